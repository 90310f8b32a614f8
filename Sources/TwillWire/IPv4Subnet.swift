/// An IPv4 prefix (network address and length), always stored with the host bits cleared.
public struct IPv4Subnet: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int

    public init?(address: IPv4Address, prefixLength: Int) {
        guard (0...32).contains(prefixLength) else { return nil }
        self.address = IPv4Address(address.value & IPv4Subnet.mask(prefixLength))
        self.prefixLength = prefixLength
    }

    /// Parses `a.b.c.d/n`; the host bits must already be zero unless `strict` is false.
    public init?(_ text: some StringProtocol, strict: Bool = true) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        // Digits only: Int(_:) would also take "+8" or "-0".
        guard parts.count == 2, let a = IPv4Address(parts[0]),
              parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let n = Int(parts[1]), (0...32).contains(n) else {
            return nil
        }
        if strict && a.value & ~IPv4Subnet.mask(n) != 0 { return nil }
        self.init(address: a, prefixLength: n)
    }

    @inline(__always)
    public static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    public var mask: UInt32 { IPv4Subnet.mask(prefixLength) }

    @inline(__always)
    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == address.value }

    public func contains(_ other: IPv4Subnet) -> Bool {
        other.prefixLength >= prefixLength && contains(other.address)
    }

    /// Number of addresses, as a 64-bit count so /0 fits.
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefixLength) }

    public var lastAddress: IPv4Address { IPv4Address(address.value | ~mask) }

    public static func < (l: IPv4Subnet, r: IPv4Subnet) -> Bool {
        (l.address, l.prefixLength) < (r.address, r.prefixLength)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
