/// An IPv6 prefix (network address and length), always stored with the host bits cleared.
public struct IPv6Subnet: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let address: IPv6Address
    public let prefixLength: Int

    public init?(address: IPv6Address, prefixLength: Int) {
        guard (0...128).contains(prefixLength) else { return nil }
        let m = IPv6Subnet.mask(prefixLength)
        self.address = IPv6Address(high: address.high & m.high, low: address.low & m.low)
        self.prefixLength = prefixLength
    }

    /// Parses `fc00::/48`; the host bits must already be zero unless `strict` is false.
    public init?(_ text: some StringProtocol, strict: Bool = true) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv6Address(parts[0]), !parts[1].isEmpty,
              parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let n = Int(parts[1]), (0...128).contains(n) else {
            return nil
        }
        self.init(address: a, prefixLength: n)
        if strict && self.address != a { return nil }
    }

    /// The mask of a prefix length as two 64-bit halves.
    @inline(__always)
    public static func mask(_ length: Int) -> (high: UInt64, low: UInt64) {
        let high: UInt64 = length <= 0 ? 0 : (length >= 64 ? .max : UInt64.max << UInt64(64 - length))
        let low: UInt64 = length <= 64 ? 0 : (length >= 128 ? .max : UInt64.max << UInt64(128 - length))
        return (high, low)
    }

    @inline(__always)
    public func contains(_ a: IPv6Address) -> Bool {
        let m = IPv6Subnet.mask(prefixLength)
        return a.high & m.high == address.high && a.low & m.low == address.low
    }

    public func contains(_ other: IPv6Subnet) -> Bool {
        other.prefixLength >= prefixLength && contains(other.address)
    }

    public var lastAddress: IPv6Address {
        let m = IPv6Subnet.mask(prefixLength)
        return IPv6Address(high: address.high | ~m.high, low: address.low | ~m.low)
    }

    public static func < (l: IPv6Subnet, r: IPv6Subnet) -> Bool {
        (l.address, l.prefixLength) < (r.address, r.prefixLength)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
