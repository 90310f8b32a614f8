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

    public static let defaultPath = "/run/flannel/subnet.env"

    public init(network: IPv4Subnet, subnet: IPv4Subnet, mtu: Int, ipMasq: Bool) {
        self.network = network
        self.subnet = subnet
        self.mtu = mtu
        self.ipMasq = ipMasq
    }

    /// The address the bridge takes: the subnet's network address + 1, as flannel writes it.
    public var gatewayAddress: IPv4Address { IPv4Address(subnet.address.value &+ 1) }

    public var text: String {
        """
        FLANNEL_NETWORK=\(network)
        FLANNEL_SUBNET=\(gatewayAddress)/\(subnet.prefixLength)
        FLANNEL_MTU=\(mtu)
        FLANNEL_IPMASQ=\(ipMasq)

        """
    }

    /// Replaces the file atomically (consumers may read it at any moment), creating its directory.
    public func write(to path: String = SubnetFile.defaultPath) throws(ControlFileError) {
        try AtomicFile.replace(path, with: Array(text.utf8))
    }

    /// The file's values, or nil when it is missing or lacks a valid network, subnet, MTU or IPMASQ.
    /// Other lines (IPv6 entries, comments) are ignored.
    public static func read(_ path: String = SubnetFile.defaultPath) -> SubnetFile? {
        guard let bytes = try? AtomicFile.contents(of: path) else { return nil }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    public static func parse(_ text: String) -> SubnetFile? {
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
        guard let network = values["FLANNEL_NETWORK"].flatMap({ IPv4Subnet($0, strict: false) }),
              let subnet = values["FLANNEL_SUBNET"].flatMap({ IPv4Subnet($0, strict: false) }),
              let mtu = values["FLANNEL_MTU"].flatMap({ Int($0) }), mtu > 0,
              let ipMasq = values["FLANNEL_IPMASQ"].flatMap({ Bool($0) })
        else { return nil }
        return SubnetFile(network: network, subnet: subnet, mtu: mtu, ipMasq: ipMasq)
    }

    private static func trim(_ text: some StringProtocol) -> String {
        var slice = Substring(text)
        while let c = slice.first, c == " " || c == "\t" || c == "\r" { slice.removeFirst() }
        while let c = slice.last, c == " " || c == "\t" || c == "\r" { slice.removeLast() }
        return String(slice)
    }
}
