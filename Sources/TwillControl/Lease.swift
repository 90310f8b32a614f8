import Foundation
import TwillWire

/// One node's claim on a subnet (and, in a dual-stack overlay, an IPv6 subnet), valid until `expiration`.
public struct Lease: Sendable, Equatable {
    public var subnet: IPv4Subnet
    /// The IPv6 half of a dual-stack lease; nil for an IPv4-only one.
    public var subnetV6: IPv6Subnet?
    public var attributes: LeaseAttributes
    public var expiration: Date

    public init(subnet: IPv4Subnet, subnetV6: IPv6Subnet? = nil, attributes: LeaseAttributes, expiration: Date) {
        self.subnet = subnet
        self.subnetV6 = subnetV6
        self.attributes = attributes
        self.expiration = expiration
    }

    public var key: String { Lease.key(for: subnet, v6: subnetV6) }

    public func isExpired(at now: Date = Date()) -> Bool { expiration <= now }

    /// flannel's subnet key, the last component of `<prefix>/subnets/10.5.52.0-24`.
    public static func key(for subnet: IPv4Subnet) -> String { "\(subnet.address)-\(subnet.prefixLength)" }

    /// flannel's dual-stack key, `10.5.52.0-24&fc00:0:0:34::-64`, or the IPv4 key when `v6` is nil.
    public static func key(for subnet: IPv4Subnet, v6: IPv6Subnet?) -> String {
        guard let v6 else { return key(for: subnet) }
        return key(for: subnet) + "&\(v6.address)-\(v6.prefixLength)"
    }

    /// The IPv4 subnet of a key: "10.5.52.0-24", a dual-stack "10.5.52.0-24&fc00::-64", or a full etcd
    /// path ending in one. Nil for anything else, including stray host bits in either half.
    public static func parseKey(_ key: some StringProtocol) -> IPv4Subnet? {
        parseDualStackKey(key)?.v4
    }

    /// Both halves of a key (the IPv6 one nil for an IPv4-only key); accepts what `parseKey` accepts.
    public static func parseDualStackKey(_ key: some StringProtocol) -> (v4: IPv4Subnet, v6: IPv6Subnet?)? {
        var name = Substring(key)
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        var v6: IPv6Subnet?
        if let amp = name.firstIndex(of: "&") {
            let text = name[name.index(after: amp)...]
            guard let dash = text.lastIndex(of: "-"), let address = IPv6Address(text[..<dash]),
                  let length = prefixLength(text[text.index(after: dash)...], upTo: 128),
                  let subnet = IPv6Subnet(address: address, prefixLength: length), subnet.address == address
            else { return nil }
            v6 = subnet
            name = name[..<amp]
        }
        guard let dash = name.lastIndex(of: "-"), let address = IPv4Address(name[..<dash]),
              let length = prefixLength(name[name.index(after: dash)...], upTo: 32),
              let subnet = IPv4Subnet(address: address, prefixLength: length), subnet.address == address
        else { return nil }
        return (subnet, v6)
    }

    /// Digits only: Int() alone would also take "+24".
    private static func prefixLength(_ text: Substring, upTo limit: Int) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 3,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let length = Int(text), length <= limit else { return nil }
        return length
    }
}
