/// A 48-bit Ethernet address, held in the low 48 bits of a UInt64 (first octet most significant).
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value & 0xffff_ffff_ffff }

    public init(_ b: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        value = UInt64(b.0) << 40 | UInt64(b.1) << 32 | UInt64(b.2) << 24 | UInt64(b.3) << 16
            | UInt64(b.4) << 8 | UInt64(b.5)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (case-insensitive).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for p in parts {
            // UInt8(_:radix:) also takes a sign ("+f"), which is no MAC text.
            guard p.count == 2, p.utf8.allSatisfy(isHexDigit), let b = UInt8(p, radix: 16) else { return nil }
            v = v << 8 | UInt64(b)
        }
        value = v
    }

    public static let broadcast = MACAddress(0xffff_ffff_ffff)

    /// A random locally administered unicast address, as flannel makes for its VTEP.
    public static func randomLocal<G: RandomNumberGenerator>(using g: inout G) -> MACAddress {
        var v = UInt64.random(in: 0...0xffff_ffff_ffff, using: &g)
        v = (v & ~(UInt64(0x01) << 40)) | (UInt64(0x02) << 40)
        return MACAddress(v)
    }

    public var isMulticast: Bool { (value >> 40) & 1 == 1 }

    public var description: String {
        (0..<6).map { i -> String in
            let b = UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64(i)))
            return b < 16 ? "0" + String(b, radix: 16) : String(b, radix: 16)
        }.joined(separator: ":")
    }

    @inline(__always)
    func store(to p: UnsafeMutableRawPointer, at offset: Int) {
        store16(p, offset, UInt16(truncatingIfNeeded: value >> 32))
        store32(p, offset + 2, UInt32(truncatingIfNeeded: value))
    }

    @inline(__always)
    static func load(from p: UnsafeRawPointer, at offset: Int) -> MACAddress {
        MACAddress(UInt64(load16(p, offset)) << 32 | UInt64(load32(p, offset + 2)))
    }
}

/// An ASCII hex digit: address text is digits only, never a sign.
@inline(__always)
func isHexDigit(_ c: UInt8) -> Bool {
    (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
        || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
}
