/// The Internet checksum (RFC 1071), its incremental update (RFC 1624) and pseudo-header sums.
///
/// Sums are carried as folded 16-bit values in network order (0...0xffff in a UInt32) so partial sums of
/// separate pieces (pseudo-header, header, payload) add with `combine`.
public enum InternetChecksum {
    /// One's-complement sum of `bytes` plus `initial`, folded to 16 bits.
    ///
    /// Adds 64-bit native words with end-around carry, four per round: the one's-complement sum is
    /// byte-order independent, so the result is swapped to network order once at the end.
    @inline(__always)
    public static func sum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        guard var p = bytes.baseAddress else { return initial }
        var n = bytes.count
        var acc: UInt64 = 0
        var carry: UInt64 = 0
        @inline(__always) func add(_ v: UInt64) {
            let (r, o) = acc.addingReportingOverflow(v)
            acc = r
            carry &+= o ? 1 : 0
        }
        while n >= 32 {
            add(p.loadUnaligned(as: UInt64.self))
            add(p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            add(p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            add(p.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            p += 32
            n -= 32
        }
        while n >= 8 {
            add(p.loadUnaligned(as: UInt64.self))
            p += 8
            n -= 8
        }
        if n >= 4 {
            add(UInt64(p.loadUnaligned(as: UInt32.self)))
            p += 4
            n -= 4
        }
        if n >= 2 {
            add(UInt64(p.loadUnaligned(as: UInt16.self)))
            p += 2
            n -= 2
        }
        if n == 1 {
            // A lone last byte is the high byte of a zero-padded network word; in a native
            // little-endian word that is the low byte.
            #if _endian(little)
            add(UInt64(p.load(as: UInt8.self)))
            #else
            add(UInt64(p.load(as: UInt8.self)) << 8)
            #endif
        }
        // Adding the carries can itself wrap; that last wrap is bounded by `carry`, so one more
        // end-around 1 cannot wrap again.
        let (folded, wrapped) = acc.addingReportingOverflow(carry)
        acc = folded &+ (wrapped ? 1 : 0)
        var s = (acc >> 32) + (acc & 0xffff_ffff)
        s = (s >> 32) + (s & 0xffff_ffff)
        var s32 = UInt32(truncatingIfNeeded: s)
        s32 = (s32 >> 16) + (s32 & 0xffff)
        s32 = (s32 >> 16) + (s32 & 0xffff)
        let network = UInt16(bigEndian: UInt16(truncatingIfNeeded: s32))
        return combine(UInt32(network), initial)
    }

    /// Adds two folded sums.
    @inline(__always)
    public static func combine(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var s = a &+ b
        s = (s >> 16) + (s & 0xffff)
        s = (s >> 16) + (s & 0xffff)
        return s
    }

    /// The checksum field value for a folded sum.
    @inline(__always)
    public static func finish(_ sum: UInt32) -> UInt16 {
        ~UInt16(truncatingIfNeeded: combine(sum, 0))
    }

    /// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word changing from `oldWord` to `newWord`.
    @inline(__always)
    public static func update(_ checksum: UInt16, oldWord: UInt16, newWord: UInt16) -> UInt16 {
        let s = combine(combine(UInt32(~checksum), UInt32(~oldWord)), UInt32(newWord))
        return ~UInt16(truncatingIfNeeded: s)
    }

    /// RFC 1624 for a 32-bit field (two words).
    @inline(__always)
    public static func update(_ checksum: UInt16, old: UInt32, new: UInt32) -> UInt16 {
        let c = update(checksum, oldWord: UInt16(truncatingIfNeeded: old >> 16), newWord: UInt16(truncatingIfNeeded: new >> 16))
        return update(c, oldWord: UInt16(truncatingIfNeeded: old), newWord: UInt16(truncatingIfNeeded: new))
    }

    @inline(__always)
    public static func pseudoHeaderSum(source: IPv4Address, destination: IPv4Address, proto: UInt8,
                                       length: Int) -> UInt32 {
        var s: UInt32 = (source.value >> 16) + (source.value & 0xffff)
        s += (destination.value >> 16) + (destination.value & 0xffff)
        s += UInt32(proto) + UInt32(truncatingIfNeeded: length & 0xffff) + UInt32(truncatingIfNeeded: length >> 16)
        return combine(s, 0)
    }

    @inline(__always)
    public static func pseudoHeaderSum(source: IPv6Address, destination: IPv6Address, proto: UInt8,
                                       length: Int) -> UInt32 {
        @inline(__always) func words(_ v: UInt64) -> UInt64 {
            (v >> 48) + (v >> 32 & 0xffff) + (v >> 16 & 0xffff) + (v & 0xffff)
        }
        var s = words(source.high) + words(source.low) + words(destination.high) + words(destination.low)
        s += UInt64(proto) + UInt64(length & 0xffff) + UInt64(length >> 16)
        s = (s >> 32) + (s & 0xffff_ffff)
        return combine(UInt32(truncatingIfNeeded: s >> 16), UInt32(truncatingIfNeeded: s & 0xffff))
    }
}
