import Foundation
import TwillWire

/// The overlay's network config: flannel's `<prefix>/config` JSON with every default applied and
/// every rule checked, so the rest of Twill can trust it.
public struct NetworkConfig: Sendable, Equatable {
    /// The whole overlay network (host bits cleared).
    public let network: IPv4Subnet
    /// The prefix length of each node's subnet.
    public let subnetLength: Int
    /// The lowest and highest subnet network addresses a node may lease (inclusive).
    public let subnetMin: IPv4Address
    public let subnetMax: IPv4Address
    public let backend: BackendConfig
    /// The IPv6 half of a dual-stack overlay; nil unless `EnableIPv6` is true.
    public let ipv6: IPv6NetworkConfig?

    /// flannel refuses anything longer: each node needs a /30 at least and the Network four subnets.
    public static let longestNetworkPrefix = 28
    public static let longestSubnetLength = 30

    /// Applies flannel's defaults and rules. `subnetLength` 0 and nil bounds mean "default".
    public init(network: IPv4Subnet, subnetLength: Int = 0, subnetMin: IPv4Address? = nil,
                subnetMax: IPv4Address? = nil, backend: BackendConfig = BackendConfig(),
                ipv6: IPv6NetworkConfig? = nil) throws(ConfigError) {
        guard network.prefixLength <= NetworkConfig.longestNetworkPrefix else {
            throw ConfigError(field: "Network", rule: "must be a /\(NetworkConfig.longestNetworkPrefix) or larger "
                + "(got /\(network.prefixLength)): every node needs a subnet of at least 4 addresses and the "
                + "Network room for at least 4 subnets")
        }
        let length: Int
        if subnetLength == 0 {
            // flannel gives each node a /24 when the Network is big enough for 4 of them, else a quarter.
            length = network.prefixLength <= 22 ? 24 : network.prefixLength + 2
        } else {
            let lowest = network.prefixLength + 2
            guard subnetLength >= lowest && subnetLength <= NetworkConfig.longestSubnetLength else {
                throw ConfigError(field: "SubnetLen", rule: "must be at least the Network prefix + 2 (\(lowest)) "
                    + "and at most \(NetworkConfig.longestSubnetLength) (got \(subnetLength)); 0 picks the default")
            }
            length = subnetLength
        }
        let size = UInt32(1) << UInt32(32 - length)
        // The first subnet is skipped by default: its network address equals the Network's, which
        // confuses tools that treat it as the Network itself.
        let min = subnetMin ?? IPv4Address(network.address.value + size)
        let max = subnetMax ?? IPv4Address(network.lastAddress.value - (size - 1))
        try NetworkConfig.checkBound("SubnetMin", min, network: network, length: length)
        try NetworkConfig.checkBound("SubnetMax", max, network: network, length: length)
        guard min <= max else {
            throw ConfigError(field: "SubnetMax", rule: "must not be below SubnetMin \(min) (got \(max))")
        }
        guard backend.vni <= BackendConfig.maximumVNI else {
            throw ConfigError(field: "Backend.VNI",
                              rule: "must be from 0 to \(BackendConfig.maximumVNI) (got \(backend.vni))")
        }
        if let mtu = backend.mtu, !(68...65535).contains(mtu) {
            throw ConfigError(field: "Backend.MTU", rule: "must be from 68 to 65535, or 0 or absent to derive it "
                + "from the underlay (got \(mtu))")
        }
        self.network = network
        self.subnetLength = length
        self.subnetMin = min
        self.subnetMax = max
        self.backend = backend
        self.ipv6 = ipv6
    }

    private static func checkBound(_ field: String, _ address: IPv4Address, network: IPv4Subnet,
                                   length: Int) throws(ConfigError) {
        guard network.contains(address) else {
            throw ConfigError(field: field, rule: "must be inside Network \(network) (got \(address))")
        }
        let mask = IPv4Subnet.mask(length)
        guard address.value & mask == address.value else {
            let below = IPv4Address(address.value & mask)
            throw ConfigError(field: field, rule: "must be the start of a /\(length) subnet (SubnetLen) "
                + "(got \(address); the nearest below is \(below))")
        }
    }

    /// Parses flannel's config JSON. Unknown fields are ignored and keys match case-insensitively,
    /// as in flannel (Go's decoder); `null` counts as absent.
    public init(json: Data) throws(ConfigError) {
        try self.init(document: NetworkConfig.document(try NetworkConfig.parseJSON { () throws(JSONParseError) in
            try JSONParser.parse(json)
        }))
    }

    public init(jsonString: String) throws(ConfigError) {
        try self.init(document: NetworkConfig.document(try NetworkConfig.parseJSON { () throws(JSONParseError) in
            try JSONParser.parse(jsonString)
        }))
    }

    public static func parse(_ json: Data) throws(ConfigError) -> NetworkConfig {
        try NetworkConfig(json: json)
    }

    private static func parseJSON(_ body: () throws(JSONParseError) -> JSONValue) throws(ConfigError) -> JSONValue {
        do {
            return try body()
        } catch {
            throw ConfigError(field: "JSON", rule: "is malformed: \(error)")
        }
    }

    private static func document(_ value: JSONValue) throws(ConfigError) -> JSONValue {
        guard case .object = value else {
            throw ConfigError(field: "JSON", rule: "must be an object such as "
                + "{\"Network\":\"10.5.0.0/16\",\"Backend\":{\"Type\":\"vxlan\"}} (got \(value.kindDescription))")
        }
        return value
    }

    private init(document doc: JSONValue) throws(ConfigError) {
        if let enabled = try NetworkConfig.bool(doc, "EnableIPv4"), !enabled {
            throw ConfigError(field: "EnableIPv4", rule: "must be true: IPv4 is required (IPv6-only overlays are "
                + "not supported)")
        }
        let ipv6Enabled = try NetworkConfig.bool(doc, "EnableIPv6") ?? false
        // Checked even while IPv6 is off (the fields are then unused), as flannel's decoder does.
        // Stray host bits are cleared, as for Network.
        var ipv6Network: IPv6Subnet?
        if let text = try NetworkConfig.string(doc, "IPv6Network") {
            guard let parsed = IPv6Subnet(text, strict: false) else {
                throw ConfigError(field: "IPv6Network", rule: "must be an IPv6 CIDR such as fc00::/48 (got \"\(text)\")")
            }
            ipv6Network = parsed
        }
        let ipv6SubnetMin = try NetworkConfig.ipv6Address(doc, "IPv6SubnetMin")
        let ipv6SubnetMax = try NetworkConfig.ipv6Address(doc, "IPv6SubnetMax")
        let ipv6SubnetLength = try NetworkConfig.integer(doc, "IPv6SubnetLen") ?? 0
        if ipv6SubnetLength < 0 {
            throw ConfigError(field: "IPv6SubnetLen", rule: "must be a whole number, 0 or more (got \(ipv6SubnetLength))")
        }

        guard let networkText = try NetworkConfig.string(doc, "Network") else {
            throw ConfigError(field: "Network", rule: "is required: an IPv4 CIDR such as 10.5.0.0/16")
        }
        // flannel clears stray host bits ("10.5.1.0/16" means 10.5.0.0/16), so Twill accepts them too.
        guard let network = IPv4Subnet(networkText, strict: false) else {
            throw ConfigError(field: "Network",
                              rule: "must be an IPv4 CIDR such as 10.5.0.0/16 (got \"\(networkText)\")")
        }
        let subnetLength = try NetworkConfig.integer(doc, "SubnetLen") ?? 0
        if subnetLength < 0 {
            throw ConfigError(field: "SubnetLen", rule: "must be at least the Network prefix + 2 "
                + "(\(network.prefixLength + 2)) and at most \(NetworkConfig.longestSubnetLength) "
                + "(got \(subnetLength)); 0 picks the default")
        }
        let subnetMin = try NetworkConfig.address(doc, "SubnetMin")
        let subnetMax = try NetworkConfig.address(doc, "SubnetMax")
        let backend = try NetworkConfig.backend(doc["Backend"])
        var ipv6: IPv6NetworkConfig?
        if ipv6Enabled {
            guard let ipv6Network else {
                throw ConfigError(field: "IPv6Network",
                                  rule: "is required when EnableIPv6 is true: an IPv6 CIDR such as fc00::/48")
            }
            ipv6 = try IPv6NetworkConfig(network: ipv6Network, subnetLength: ipv6SubnetLength, subnetMin: ipv6SubnetMin,
                                         subnetMax: ipv6SubnetMax)
        }
        try self.init(network: network, subnetLength: subnetLength, subnetMin: subnetMin, subnetMax: subnetMax,
                      backend: backend, ipv6: ipv6)
    }

    private static func backend(_ value: JSONValue?) throws(ConfigError) -> BackendConfig {
        // Twill defaults to vxlan; flannel's code falls back to udp although its docs say vxlan (#1221).
        guard let value, !value.isNull else { return BackendConfig(format: .vxlan) }
        guard case .object = value else {
            throw ConfigError(field: "Backend", rule: "must be an object such as {\"Type\":\"vxlan\"} "
                + "(got \(value.kindDescription))")
        }
        let typeName = try string(value, "Type", field: "Backend.Type") ?? ""
        let format: EncapsulationFormat
        switch typeName.lowercased() {
        case "", "vxlan": format = .vxlan
        case "udp": format = .udp
        default:
            throw ConfigError(field: "Backend.Type", rule: "must be \"vxlan\" or \"udp\" (got \"\(typeName)\"); "
                + "other flannel backends are not supported")
        }
        let port = try integer(value, "Port", field: "Backend.Port") ?? 0
        guard (0...65535).contains(port) else {
            throw ConfigError(field: "Backend.Port", rule: "must be a UDP port from 1 to 65535, or 0 or absent for "
                + "the default \(format.defaultPort) (got \(port))")
        }
        var vni = BackendConfig.defaultVNI
        if format == .vxlan, let explicit = try integer(value, "VNI", field: "Backend.VNI") {
            guard (0...Int(BackendConfig.maximumVNI)).contains(explicit) else {
                throw ConfigError(field: "Backend.VNI",
                                  rule: "must be from 0 to \(BackendConfig.maximumVNI) (got \(explicit))")
            }
            vni = UInt32(explicit)
        }
        let mtu = try integer(value, "MTU", field: "Backend.MTU") ?? 0
        return BackendConfig(format: format, port: UInt16(port), vni: vni, mtu: mtu == 0 ? nil : mtu)
    }

    private static func bool(_ doc: JSONValue, _ key: String) throws(ConfigError) -> Bool? {
        guard let value = doc[key], !value.isNull else { return nil }
        guard let b = value.bool else {
            throw ConfigError(field: key, rule: "must be true or false (got \(value.kindDescription))")
        }
        return b
    }

    private static func string(_ doc: JSONValue, _ key: String, field: String? = nil) throws(ConfigError) -> String? {
        guard let value = doc[key], !value.isNull else { return nil }
        guard let s = value.string else {
            throw ConfigError(field: field ?? key, rule: "must be a string (got \(value.kindDescription))")
        }
        return s
    }

    private static func integer(_ doc: JSONValue, _ key: String, field: String? = nil) throws(ConfigError) -> Int? {
        guard let value = doc[key], !value.isNull else { return nil }
        guard let n = value.integer else {
            let got: String
            if case .number(let text) = value { got = text } else { got = value.kindDescription }
            throw ConfigError(field: field ?? key, rule: "must be a whole number (got \(got))")
        }
        return n
    }

    /// A subnet bound; "0.0.0.0" means "default", as Go's zero value does in flannel.
    private static func address(_ doc: JSONValue, _ key: String) throws(ConfigError) -> IPv4Address? {
        guard let text = try string(doc, key) else { return nil }
        guard let address = IPv4Address(text) else {
            throw ConfigError(field: key, rule: "must be an IPv4 address such as 10.5.1.0 (got \"\(text)\")")
        }
        return address.value == 0 ? nil : address
    }

    /// An IPv6 subnet bound; absent or null means "default" (flannel's field is a pointer, so "::" is an
    /// address like any other there).
    private static func ipv6Address(_ doc: JSONValue, _ key: String) throws(ConfigError) -> IPv6Address? {
        guard let text = try string(doc, key) else { return nil }
        guard let address = IPv6Address(text) else {
            throw ConfigError(field: key, rule: "must be an IPv6 address such as fc00::100 (got \"\(text)\")")
        }
        return address
    }

    /// The config as flannel JSON with every default written out; parsing it gives this value back.
    public var jsonString: String {
        var backendMembers: [(key: String, value: JSONValue)] = [
            ("Type", .string(backend.format.rawValue)),
            ("Port", .int(backend.port)),
        ]
        if backend.format == .vxlan { backendMembers.append(("VNI", .int(backend.vni))) }
        if let mtu = backend.mtu { backendMembers.append(("MTU", .int(mtu))) }
        var members: [(key: String, value: JSONValue)] = [
            ("Network", .string(network.description)),
            ("SubnetLen", .int(subnetLength)),
            ("SubnetMin", .string(subnetMin.description)),
            ("SubnetMax", .string(subnetMax.description)),
        ]
        if let ipv6 {
            members += [
                ("EnableIPv6", .bool(true)),
                ("IPv6Network", .string(ipv6.network.description)),
                ("IPv6SubnetLen", .int(ipv6.subnetLength)),
                ("IPv6SubnetMin", .string(ipv6.subnetMin.description)),
                ("IPv6SubnetMax", .string(ipv6.subnetMax.description)),
            ]
        }
        members.append(("Backend", .object(backendMembers)))
        return JSONValue.object(members).serialized()
    }

    /// The overlay MTU: Backend.MTU when set, else the underlay's minus the encapsulation overhead
    /// (vxlan 50, udp 28; 20 more on an IPv6 underlay, which flannel forgets, #1781).
    public func mtu(underlayMTU: Int, ipv6Underlay: Bool = false) -> Int {
        backend.mtu ?? underlayMTU - backend.format.overhead(ipv6Underlay: ipv6Underlay)
    }

    /// The number of addresses in each node's subnet.
    public var subnetSize: UInt32 { UInt32(1) << UInt32(32 - subnetLength) }

    /// Whether a lease's subnet fits this config: inside Network, of SubnetLen, within Min..Max.
    public func fits(_ subnet: IPv4Subnet) -> Bool {
        subnet.prefixLength == subnetLength && network.contains(subnet)
            && subnet.address >= subnetMin && subnet.address <= subnetMax
    }

    /// Whether a lease's pair of subnets fits: the IPv4 one always; with IPv6 on, the IPv6 one must be
    /// present and fit too (a lease from before IPv6 was enabled does not).
    public func fits(_ subnet: IPv4Subnet, v6: IPv6Subnet?) -> Bool {
        guard fits(subnet) else { return false }
        guard let ipv6 else { return true }
        return v6.map(ipv6.fits) ?? false
    }
}
