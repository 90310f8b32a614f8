import Foundation
import Testing
@testable import TwillControl
import TwillWire

/// flannel's dual-stack lease: the `v4&v6` key and the IPv6 members of the lease value.
@Suite struct DualStackLeaseTests {
    static let flannelDualStackVXLAN =
        #"{"PublicIP":"192.0.2.11","PublicIPv6":"2001:db8::11","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#

    @Test func keyIsFlannelsDualStackKey() {
        #expect(Lease.key(for: subnet("10.5.52.0/24"), v6: subnet6("fc00:0:0:34::/64")) == "10.5.52.0-24&fc00:0:0:34::-64")
        #expect(Lease.key(for: subnet("10.5.52.0/24"), v6: nil) == "10.5.52.0-24")
        let lease = Lease(subnet: subnet("10.5.52.0/24"), subnetV6: subnet6("fc00:0:0:34::/64"),
                          attributes: .udp(publicIP: ip("192.0.2.1")), expiration: Date())
        #expect(lease.key == "10.5.52.0-24&fc00:0:0:34::-64")
    }

    @Test(arguments: [
        ("10.5.52.0-24&fc00:0:0:34::-64", "10.5.52.0/24", "fc00:0:0:34::/64"),
        ("/coreos.com/network/subnets/10.244.1.0-24&fd00:1::-64", "10.244.1.0/24", "fd00:1::/64"),
        ("10.5.52.0-24&::-0", "10.5.52.0/24", "::/0"),
        ("10.5.52.0-24&fc00::1-128", "10.5.52.0/24", "fc00::1/128"),
    ])
    func parsesDualStackKeys(key: String, v4: String, v6: String) throws {
        let parsed = try #require(Lease.parseDualStackKey(key))
        #expect(parsed.v4 == subnet(v4))
        #expect(parsed.v6 == subnet6(v6))
        #expect(Lease.parseKey(key) == subnet(v4))
    }

    @Test func anIPv4KeyHasNoIPv6Half() throws {
        let parsed = try #require(Lease.parseDualStackKey("10.5.52.0-24"))
        #expect(parsed.v4 == subnet("10.5.52.0/24"))
        #expect(parsed.v6 == nil)
    }

    @Test(arguments: ["10.5.52.0-24&", "10.5.52.0-24&fc00::", "10.5.52.0-24&fc00::-", "10.5.52.0-24&zz::-64",
                      "10.5.52.0-24&fc00::-129", "10.5.52.0-24&fc00::-+64", "10.5.52.0-24&fc00::- 64",
                      "10.5.52.0-24&fc00::1-64", "10.5.52.0-24&fc00:0:0:34::-48", "10.5.52.0-24&10.0.0.0-8",
                      "10.5.52.0-24&fc00::-0064", "10.5.52.1-24&fc00::-64", "&fc00::-64"])
    func refusesBadIPv6Halves(key: String) {
        #expect(Lease.parseDualStackKey(key) == nil)
        #expect(Lease.parseKey(key) == nil)
    }

    @Test func keyRoundTrips() throws {
        for (v4, v6) in [("10.5.52.0/24", "fc00:0:0:34::/64"), ("10.0.0.0/8", "2001:db8::/32"),
                         ("192.168.7.4/30", "fd00::10/124")] {
            let parsed = try #require(Lease.parseDualStackKey(Lease.key(for: subnet(v4), v6: subnet6(v6))))
            #expect(parsed.v4 == subnet(v4) && parsed.v6 == subnet6(v6))
        }
    }

    @Test func recordFillsTheIPv6HalfFromTheKey() throws {
        let record = try LeaseRecord(key: "10.5.7.0-24&fc00:0:0:7::-64", value: Self.flannelDualStackVXLAN,
                                     expiration: Date())
        #expect(record.lease.subnet == subnet("10.5.7.0/24"))
        #expect(record.lease.subnetV6 == subnet6("fc00:0:0:7::/64"))
        #expect(record.key == "10.5.7.0-24&fc00:0:0:7::-64")
        #expect(throws: LeaseFormatError.self) {
            try LeaseRecord(key: "10.5.7.0-24&fc00:0:0:7::1-64", value: Self.flannelDualStackVXLAN, expiration: Date())
        }
        // A record made from a dual-stack lease keeps the dual key.
        #expect(LeaseRecord(lease: record.lease).key == "10.5.7.0-24&fc00:0:0:7::-64")
    }

    // MARK: Lease value

    @Test func dualStackVXLANValueIsFlannelsExactBytes() throws {
        let attributes = LeaseAttributes.vxlan(publicIP: ip("192.0.2.11"), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44"),
                                               publicIPv6: ip6("2001:db8::11"), vtepMACv6: mac("c6:d2:32:6f:8f:44"))
        #expect(attributes.jsonString == Self.flannelDualStackVXLAN)
        #expect(attributes.vniV6 == 1)
        let parsed = try LeaseAttributes(jsonString: Self.flannelDualStackVXLAN)
        #expect(parsed == attributes)
        #expect(parsed.publicIPv6 == ip6("2001:db8::11"))
        #expect(parsed.vtepMACv6 == mac("c6:d2:32:6f:8f:44"))
    }

    @Test func ipv6VTEPMayDifferAndHaveItsOwnVNI() throws {
        let text = #"{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":7,"VtepMAC":"c6:d2:32:6f:8f:45"}}"#
        let parsed = try LeaseAttributes(jsonString: text)
        #expect(parsed.vniV6 == 7)
        #expect(parsed.vtepMACv6 == mac("c6:d2:32:6f:8f:45"))
        #expect(parsed.jsonString == text)
    }

    @Test func publicIPv6AloneAndForUDP() throws {
        let vxlan = LeaseAttributes.vxlan(publicIP: ip("192.0.2.1"), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44"),
                                          publicIPv6: ip6("2001:db8::1"))
        #expect(vxlan.jsonString
            == #"{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#)
        let udp = LeaseAttributes.udp(publicIP: ip("192.0.2.1"), publicIPv6: ip6("2001:db8::1"))
        #expect(udp.jsonString == #"{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1"}"#)
        #expect(try LeaseAttributes(jsonString: udp.jsonString) == udp)
        // Single stack is unchanged.
        #expect(LeaseAttributes.udp(publicIP: ip("192.0.2.1")).jsonString == #"{"PublicIP":"192.0.2.1","PublicIPv6":null}"#)
        #expect(try LeaseAttributes(jsonString: #"{"PublicIP":"192.0.2.1"}"#).publicIPv6 == nil)
    }

    @Test(arguments: [
        (#"{"PublicIP":"192.0.2.1","PublicIPv6":"192.0.2.1"}"#, "PublicIPv6"),
        (#"{"PublicIP":"192.0.2.1","PublicIPv6":""}"#, "PublicIPv6"),
        (#"{"PublicIP":"192.0.2.1","PublicIPv6":1}"#, "PublicIPv6"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendV6Data":[]}"#, "BackendV6Data"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendV6Data":{"VNI":-1}}"#, "BackendV6Data.VNI"),
        (#"{"PublicIP":"192.0.2.1","BackendType":"vxlan","BackendV6Data":{"VtepMAC":"x"}}"#, "BackendV6Data.VtepMAC"),
    ])
    func badIPv6MembersNameTheField(text: String, field: String) {
        #expect(throws: LeaseFormatError.self) { try LeaseAttributes(jsonString: text) }
        do {
            _ = try LeaseAttributes(jsonString: text)
        } catch {
            #expect(error.field == field)
        }
    }
}
