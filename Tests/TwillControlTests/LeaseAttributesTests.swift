import TwillTestSupport
import Foundation
import Testing
import TwillControl
import TwillWire

@Suite struct LeaseAttributesTests {
    static let flannelVXLAN =
        #"{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#
    static let flannelUDP = #"{"PublicIP":"192.0.2.1","PublicIPv6":null}"#

    @Test func vxlanEncodesExactlyAsFlannel() {
        let attributes = LeaseAttributes.vxlan(publicIP: ip("192.0.2.1"), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44"))
        #expect(attributes.jsonString
            == #"{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#)
        #expect(attributes.jsonData == Data(attributes.jsonString.utf8))
    }

    @Test func vxlanDecodesFlannelsValue() throws {
        let attributes = try LeaseAttributes(jsonString: Self.flannelVXLAN)
        #expect(attributes == LeaseAttributes(publicIP: ip("192.168.64.3"), backendType: "vxlan", vni: 1,
                                              vtepMAC: mac("c6:d2:32:6f:8f:44")))
        #expect(attributes.format == .vxlan)
        #expect(attributes.jsonString == Self.flannelVXLAN)
    }

    @Test func udpWritesNoBackendType() throws {
        #expect(LeaseAttributes.udp(publicIP: ip("192.0.2.1")).jsonString == Self.flannelUDP)
        let decoded = try LeaseAttributes(json: Data(Self.flannelUDP.utf8))
        #expect(decoded == .udp(publicIP: ip("192.0.2.1")))
        #expect(decoded.backendType == "udp")
        #expect(decoded.format == .udp)
        #expect(decoded.vni == nil && decoded.vtepMAC == nil)
        // Stray vxlan data on a udp lease is not written, so udp leases always read back equal.
        let stray = LeaseAttributes(publicIP: ip("192.0.2.1"), backendType: "udp", vni: 1, vtepMAC: mac("02:00:00:00:00:01"))
        #expect(stray.jsonString == Self.flannelUDP)
    }

    @Test func emptyOrNullBackendTypeMeansUDP() throws {
        #expect(try LeaseAttributes(jsonString: #"{"PublicIP":"192.0.2.1","BackendType":""}"#).format == .udp)
        #expect(try LeaseAttributes(jsonString: #"{"PublicIP":"192.0.2.1","BackendType":null}"#).format == .udp)
        #expect(try LeaseAttributes(jsonString: #"{"PublicIP":"192.0.2.1"}"#).format == .udp)
    }

    @Test func otherBackendsAreKeptButHaveNoFormat() throws {
        let hostGW = #"{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw"}"#
        let attributes = try LeaseAttributes(jsonString: hostGW)
        #expect(attributes.backendType == "host-gw")
        #expect(attributes.format == nil)
        #expect(attributes.jsonString == hostGW)
        let wireguard = try LeaseAttributes(jsonString:
            #"{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"abc="}}"#)
        #expect(wireguard.backendType == "wireguard")
        #expect(wireguard.vni == nil && wireguard.vtepMAC == nil)
    }

    @Test func dualStackFieldsAreAccepted() throws {
        let attributes = try LeaseAttributes(jsonString:
            #"{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:45"}}"#)
        #expect(attributes.publicIP == ip("192.0.2.1"))
        #expect(attributes.vtepMAC == mac("c6:d2:32:6f:8f:44"))
    }

    @Test func vxlanWithoutBackendDataDecodes() throws {
        let attributes = try LeaseAttributes(jsonString: #"{"PublicIP":"192.0.2.1","BackendType":"vxlan"}"#)
        #expect(attributes.format == .vxlan)
        #expect(attributes.vni == nil && attributes.vtepMAC == nil)
        #expect(attributes.jsonString == #"{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan"}"#)
    }

    @Test(arguments: [
        ("", "JSON"),
        ("garbage", "JSON"),
        ("null", "JSON"),
        ("[]", "JSON"),
        ("{}", "PublicIP"),
        (#"{"PublicIP":5}"#, "PublicIP"),
        (#"{"PublicIP":"300.1.1.1"}"#, "PublicIP"),
        (#"{"PublicIP":"192.0.2.1","BackendType":7}"#, "BackendType"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":"x"}"#, "BackendData"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VNI":-1}}"#, "BackendData.VNI"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VNI":16777216}}"#, "BackendData.VNI"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VNI":"1"}}"#, "BackendData.VNI"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":"zz:d2:32:6f:8f:44"}}"#,
         "BackendData.VtepMAC"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendData":{"VtepMAC":42}}"#, "BackendData.VtepMAC"),
    ])
    func garbageIsRefusedNamingTheField(json: String, field: String) {
        #expect {
            try LeaseAttributes(jsonString: json)
        } throws: { error in
            (error as? LeaseFormatError)?.field == field
        }
    }

    @Test func randomBytesNeverTrap() {
        var generator = SeededGenerator(seed: 11)
        let pieces = [#"{"PublicIP":"#, #""192.0.2.1""#, #","BackendType":"vxlan""#, #","BackendData":{"#,
                      #""VNI":"#, "1", #","VtepMAC":"c6:d2:32:6f:8f:44""#, "}", "}", ",", "null", "\u{0}", "\""]
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...8, using: &generator))
                .map { _ in pieces.randomElement(using: &generator)! }.joined()
            _ = try? LeaseAttributes(jsonString: text)
        }
    }
}
