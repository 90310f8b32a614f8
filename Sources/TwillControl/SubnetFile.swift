import TwillWire

/// flannel's subnet file (`/run/flannel/subnet.env`), which the flannel CNI plugin and Docker's
/// `--bip`/`--mtu` read, so the format is kept exactly.
public struct SubnetFile: Sendable, Equatable {
    /// The whole overlay network (FLANNEL_NETWORK).
    public var network: IPv4Subnet
    /// This node's leased subnet; the file holds its first host address (FLANNEL_SUBNET=10.5.72.1/24).
    public var subnet: IPv4Subnet
    public var mtu: Int
    public var ipMasq: Bool
    /// The whole IPv6 overlay network of a dual-stack overlay (FLANNEL_IPV6_NETWORK); nil otherwise.
    public var ipv6Network: IPv6Subnet?
    /// This node's leased IPv6 subnet; the file holds its first host address (FLANNEL_IPV6_SUBNET=fc00:0:0:5::1/64).
    public var ipv6Subnet: IPv6Subnet?

    public static let defaultPath = "/run/flannel/subnet.env"

    public init(network: IPv4Subnet, subnet: IPv4Subnet, mtu: Int, ipMasq: Bool, ipv6Network: IPv6Subnet? = nil,
                ipv6Subnet: IPv6Subnet? = nil) {
        self.network = network
        self.subnet = subnet
        self.mtu = mtu
        self.ipMasq = ipMasq
        self.ipv6Network = ipv6Network
        self.ipv6Subnet = ipv6Subnet
    }

    /// The address the bridge takes: the subnet's network address + 1, as flannel writes it.
    public var gatewayAddress: IPv4Address { IPv4Address(subnet.address.value &+ 1) }

    /// The bridge's IPv6 address: the IPv6 subnet's network address + 1, as flannel writes it.
    public var ipv6GatewayAddress: IPv6Address? { ipv6Subnet?.gatewayAddress }

    /// flannel's order; the IPv6 lines only in a dual-stack overlay.
    public var text: String {
        var lines = ["FLANNEL_NETWORK=\(network)", "FLANNEL_SUBNET=\(gatewayAddress)/\(subnet.prefixLength)"]
        if let ipv6Network { lines.append("FLANNEL_IPV6_NETWORK=\(ipv6Network)") }
        if let ipv6Subnet { lines.append("FLANNEL_IPV6_SUBNET=\(ipv6Subnet.gatewayAddress)/\(ipv6Subnet.prefixLength)") }
        lines += ["FLANNEL_MTU=\(mtu)", "FLANNEL_IPMASQ=\(ipMasq)"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Replaces the file atomically (consumers may read it at any moment), creating its directory.
    public func write(to path: String = SubnetFile.defaultPath) throws(ControlFileError) {
        try AtomicFile.replace(path, with: Array(text.utf8))
    }

    /// The file's values, or nil when it is missing or lacks a valid network, subnet, MTU or IPMASQ, or
    /// has an invalid IPv6 entry. Other lines (comments, unknown variables) are ignored.
    public static func read(_ path: String = SubnetFile.defaultPath) -> SubnetFile? {
        try? load(path)
    }

    /// Like `read`, saying what is wrong.
    public static func load(_ path: String = SubnetFile.defaultPath) throws(SubnetFileError) -> SubnetFile {
        let bytes: [UInt8]?
        do {
            bytes = try AtomicFile.contents(of: path)
        } catch {
            throw SubnetFileError(path: path, kind: .unreadable(reason: error.reason))
        }
        guard let bytes else { throw SubnetFileError(path: path, kind: .missing) }
        return try decode(String(decoding: bytes, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String) -> SubnetFile? {
        try? decode(text, path: "")
    }

    /// The values in `text`; `path` only names the file in the error.
    public static func decode(_ text: String, path: String) throws(SubnetFileError) -> SubnetFile {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = trim(line)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            var value = trim(trimmed[trimmed.index(after: equals)...])
            // Shell-style quoting is harmless to accept, since the file is meant to be sourced.
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[trim(trimmed[..<equals])] = value
        }
        func value<T>(_ name: String, _ rule: String, _ convert: (String) -> T?) throws(SubnetFileError) -> T {
            guard let text = values[name] else { throw SubnetFileError(path: path, kind: .variableMissing(name)) }
            guard let converted = convert(text) else {
                throw SubnetFileError(path: path, kind: .variableInvalid(name, value: text, rule: rule))
            }
            return converted
        }
        let network = try value("FLANNEL_NETWORK", "must be an IPv4 CIDR such as 10.5.0.0/16") { IPv4Subnet($0, strict: false) }
        let subnet = try value("FLANNEL_SUBNET", "must be an IPv4 CIDR such as 10.5.72.1/24") { IPv4Subnet($0, strict: false) }
        let mtu = try value("FLANNEL_MTU", "must be a positive whole number") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        let ipMasq = try value("FLANNEL_IPMASQ", "must be true or false") { Bool($0) }
        // Optional: only a dual-stack overlay writes them.
        func ipv6(_ name: String, _ example: String) throws(SubnetFileError) -> IPv6Subnet? {
            guard values[name] != nil else { return nil }
            return try value(name, "must be an IPv6 CIDR such as \(example)") { IPv6Subnet($0, strict: false) }
        }
        let ipv6Network = try ipv6("FLANNEL_IPV6_NETWORK", "fc00::/48")
        let ipv6Subnet = try ipv6("FLANNEL_IPV6_SUBNET", "fc00:0:0:5::1/64")
        return SubnetFile(network: network, subnet: subnet, mtu: mtu, ipMasq: ipMasq, ipv6Network: ipv6Network,
                          ipv6Subnet: ipv6Subnet)
    }

    private static func trim(_ text: some StringProtocol) -> String {
        var slice = Substring(text)
        while let c = slice.first, c == " " || c == "\t" || c == "\r" { slice.removeFirst() }
        while let c = slice.last, c == " " || c == "\t" || c == "\r" { slice.removeLast() }
        return String(slice)
    }
}
