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

    public init(publicIP: IPv4Address, backendType: String, vni: UInt32? = nil, vtepMAC: MACAddress? = nil) {
        self.publicIP = publicIP
        self.backendType = backendType
        self.vni = vni
        self.vtepMAC = vtepMAC
    }

    public static func vxlan(publicIP: IPv4Address, vni: UInt32, vtepMAC: MACAddress) -> LeaseAttributes {
        LeaseAttributes(publicIP: publicIP, backendType: "vxlan", vni: vni, vtepMAC: vtepMAC)
    }

    public static func udp(publicIP: IPv4Address) -> LeaseAttributes {
        LeaseAttributes(publicIP: publicIP, backendType: "udp")
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
        var type = "udp"
        if let value = document["BackendType"], !value.isNull {
            guard let text = value.string else {
                throw LeaseFormatError(field: "BackendType", problem: "must be a string (got \(value.kindDescription))")
            }
            if !text.isEmpty { type = text }
        }
        var vni: UInt32?
        var mac: MACAddress?
        // Only vxlan's BackendData has a known shape; other backends' data is theirs to interpret.
        if type == "vxlan", let data = document["BackendData"], !data.isNull {
            guard case .object = data else {
                throw LeaseFormatError(field: "BackendData", problem: "must be an object (got \(data.kindDescription))")
            }
            if let value = data["VNI"], !value.isNull {
                guard let n = value.integer, (0...Int(BackendConfig.maximumVNI)).contains(n) else {
                    throw LeaseFormatError(field: "BackendData.VNI",
                                           problem: "must be a whole number from 0 to \(BackendConfig.maximumVNI)")
                }
                vni = UInt32(n)
            }
            if let value = data["VtepMAC"], !value.isNull {
                guard let text = value.string, let parsed = MACAddress(text) else {
                    throw LeaseFormatError(field: "BackendData.VtepMAC",
                                           problem: "must be a MAC address such as \"c6:d2:32:6f:8f:44\"")
                }
                mac = parsed
            }
        }
        self.init(publicIP: ip, backendType: type, vni: vni, vtepMAC: mac)
    }

    /// flannel's bytes exactly: Go's struct order, `PublicIPv6` null, BackendType and BackendData left
    /// out when empty, and only the addresses for udp (as flannel's udp backend writes it).
    public var jsonString: String {
        var members: [(key: String, value: JSONValue)] = [
            ("PublicIP", .string(publicIP.description)),
            ("PublicIPv6", .null),
        ]
        // flannel's udp backend writes neither BackendType nor BackendData.
        guard backendType != "udp" && !backendType.isEmpty else { return JSONValue.object(members).serialized() }
        members.append(("BackendType", .string(backendType)))
        var data: [(key: String, value: JSONValue)] = []
        if let vni { data.append(("VNI", .int(vni))) }
        if let vtepMAC { data.append(("VtepMAC", .string(vtepMAC.description))) }
        if !data.isEmpty { members.append(("BackendData", .object(data))) }
        return JSONValue.object(members).serialized()
    }

    public var jsonData: Data { Data(jsonString.utf8) }
}
