import Foundation
import TwillWire

/// What a node publishes with its lease, in flannel's lease-value JSON so flannel and Twill nodes can
/// read each other's leases.
public struct LeaseAttributes: Sendable, Equatable {
    /// The node's underlay address: the tunnel endpoint, and the node's identity for lease reuse.
    public var publicIP: IPv4Address
    /// "vxlan", "udp", or whatever another flannel backend wrote.
    public var backendType: String
    /// vxlan only: the VNI and the VTEP's MAC address (nil when absent or for other backends).
    public var vni: UInt32?
    public var vtepMAC: MACAddress?
    /// The node's IPv6 underlay address (flannel's PublicIPv6); nil when it has none.
    public var publicIPv6: IPv6Address?
    /// vxlan in a dual-stack overlay: the VNI and MAC of the IPv6 VTEP (flannel's BackendV6Data).
    public var vniV6: UInt32?
    public var vtepMACv6: MACAddress?

    public init(publicIP: IPv4Address, backendType: String, vni: UInt32? = nil, vtepMAC: MACAddress? = nil,
                publicIPv6: IPv6Address? = nil, vniV6: UInt32? = nil, vtepMACv6: MACAddress? = nil) {
        self.publicIP = publicIP
        self.backendType = backendType
        self.vni = vni
        self.vtepMAC = vtepMAC
        self.publicIPv6 = publicIPv6
        self.vniV6 = vniV6
        self.vtepMACv6 = vtepMACv6
    }

    /// With `vtepMACv6`, the IPv6 VTEP shares the VNI, as flannel's dual-stack vxlan backend has it.
    public static func vxlan(publicIP: IPv4Address, vni: UInt32, vtepMAC: MACAddress, publicIPv6: IPv6Address? = nil,
                             vtepMACv6: MACAddress? = nil) -> LeaseAttributes {
        LeaseAttributes(publicIP: publicIP, backendType: "vxlan", vni: vni, vtepMAC: vtepMAC, publicIPv6: publicIPv6,
                        vniV6: vtepMACv6 == nil ? nil : vni, vtepMACv6: vtepMACv6)
    }

    public static func udp(publicIP: IPv4Address, publicIPv6: IPv6Address? = nil) -> LeaseAttributes {
        LeaseAttributes(publicIP: publicIP, backendType: "udp", publicIPv6: publicIPv6)
    }

    /// The encapsulation the peer expects; nil for backends Twill does not speak (host-gw, wireguard...).
    public var format: EncapsulationFormat? { EncapsulationFormat(rawValue: backendType) }

    /// Reads flannel's lease value. A missing or empty BackendType means udp: flannel's udp backend
    /// writes none.
    public init(json: Data) throws(LeaseFormatError) {
        let document: JSONValue
        do {
            document = try JSONParser.parse(json)
        } catch {
            throw LeaseFormatError(field: "JSON", problem: "is malformed: \(error)")
        }
        try self.init(document: document)
    }

    public init(jsonString: String) throws(LeaseFormatError) {
        try self.init(json: Data(jsonString.utf8))
    }

    private init(document: JSONValue) throws(LeaseFormatError) {
        guard case .object = document else {
            throw LeaseFormatError(field: "JSON", problem: "must be an object (got \(document.kindDescription))")
        }
        guard let ipText = document["PublicIP"]?.string else {
            throw LeaseFormatError(field: "PublicIP", problem: "is required: an IPv4 address string")
        }
        guard let ip = IPv4Address(ipText) else {
            throw LeaseFormatError(field: "PublicIP", problem: "must be an IPv4 address (got \"\(ipText)\")")
        }
        var ipv6: IPv6Address?
        if let value = document["PublicIPv6"], !value.isNull {
            guard let text = value.string, let parsed = IPv6Address(text) else {
                throw LeaseFormatError(field: "PublicIPv6", problem: "must be null or an IPv6 address such as "
                    + "\"2001:db8::1\" (got \(value.serialized()))")
            }
            ipv6 = parsed
        }
        var type = "udp"
        if let value = document["BackendType"], !value.isNull {
            guard let text = value.string else {
                throw LeaseFormatError(field: "BackendType", problem: "must be a string (got \(value.kindDescription))")
            }
            if !text.isEmpty { type = text }
        }
        // Only vxlan's backend data has a known shape; other backends' data is theirs to interpret.
        guard type == "vxlan" else {
            self.init(publicIP: ip, backendType: type, publicIPv6: ipv6)
            return
        }
        let v4 = try LeaseAttributes.vxlanData(document["BackendData"], field: "BackendData")
        let v6 = try LeaseAttributes.vxlanData(document["BackendV6Data"], field: "BackendV6Data")
        self.init(publicIP: ip, backendType: type, vni: v4.vni, vtepMAC: v4.mac, publicIPv6: ipv6, vniV6: v6.vni,
                  vtepMACv6: v6.mac)
    }

    /// vxlan's `{"VNI":1,"VtepMAC":"..."}`, the same shape for the IPv4 and the IPv6 VTEP.
    private static func vxlanData(_ data: JSONValue?,
                                  field: String) throws(LeaseFormatError) -> (vni: UInt32?, mac: MACAddress?) {
        guard let data, !data.isNull else { return (nil, nil) }
        guard case .object = data else {
            throw LeaseFormatError(field: field, problem: "must be an object (got \(data.kindDescription))")
        }
        var vni: UInt32?
        var mac: MACAddress?
        if let value = data["VNI"], !value.isNull {
            guard let n = value.integer, (0...Int(BackendConfig.maximumVNI)).contains(n) else {
                throw LeaseFormatError(field: field + ".VNI",
                                       problem: "must be a whole number from 0 to \(BackendConfig.maximumVNI)")
            }
            vni = UInt32(n)
        }
        if let value = data["VtepMAC"], !value.isNull {
            guard let text = value.string, let parsed = MACAddress(text) else {
                throw LeaseFormatError(field: field + ".VtepMAC",
                                       problem: "must be a MAC address such as \"c6:d2:32:6f:8f:44\"")
            }
            mac = parsed
        }
        return (vni, mac)
    }

    /// flannel's bytes exactly: Go's struct order, `PublicIPv6` null when unset, BackendType,
    /// BackendData and BackendV6Data left out when empty, and only the addresses for udp (as flannel's
    /// udp backend writes it).
    public var jsonString: String {
        var members: [(key: String, value: JSONValue)] = [
            ("PublicIP", .string(publicIP.description)),
            ("PublicIPv6", publicIPv6.map { .string($0.description) } ?? .null),
        ]
        // flannel's udp backend writes neither BackendType nor BackendData.
        guard backendType != "udp" && !backendType.isEmpty else { return JSONValue.object(members).serialized() }
        members.append(("BackendType", .string(backendType)))
        func data(_ vni: UInt32?, _ mac: MACAddress?) -> [(key: String, value: JSONValue)] {
            var data: [(key: String, value: JSONValue)] = []
            if let vni { data.append(("VNI", .int(vni))) }
            if let mac { data.append(("VtepMAC", .string(mac.description))) }
            return data
        }
        let v4 = data(vni, vtepMAC)
        if !v4.isEmpty { members.append(("BackendData", .object(v4))) }
        let v6 = data(vniV6, vtepMACv6)
        if !v6.isEmpty { members.append(("BackendV6Data", .object(v6))) }
        return JSONValue.object(members).serialized()
    }

    public var jsonData: Data { Data(jsonString.utf8) }
}
