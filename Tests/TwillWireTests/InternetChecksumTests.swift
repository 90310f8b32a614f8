import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("InternetChecksum")
struct InternetChecksumTests {
    @Test("RFC 1071 section 3 worked example")
    func rfc1071Example() {
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        let s = bytes.withUnsafeBytes { InternetChecksum.sum($0) }
        #expect(s == 0xddf2)
        #expect(InternetChecksum.finish(s) == 0x220d)
    }

    @Test("empty and nil buffers give the initial sum")
    func empty() {
        #expect(InternetChecksum.sum(UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
        #expect(InternetChecksum.sum(UnsafeRawBufferPointer(start: nil, count: 0), initial: 0x1234) == 0x1234)
        #expect(InternetChecksum.finish(0) == 0xffff)
    }

    @Test("sum matches the byte-pair reference on random lengths 0...2000 at odd and even offsets")
    func matchesReference() {
        var g = SeededGenerator(seed: 0xC5C5)
        let pool = g.bytes(2100)
        pool.withUnsafeBytes { raw in
            for _ in 0..<3000 {
                let offset = Int.random(in: 0...63, using: &g) | (g.chance(0.7) ? 1 : 0)
                let length = Int.random(in: 0...2000, using: &g)
                let initial = UInt32.random(in: 0...0xffff, using: &g)
                let piece = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
                let got = InternetChecksum.sum(piece, initial: initial)
                let want = referenceSum(pool[offset..<(offset + length)], initial: initial)
                // One's-complement has two zeros; compare the checksums, which fold them the same way.
                #expect(InternetChecksum.finish(got) == ~UInt16(want), "offset \(offset) length \(length)")
                #expect(got <= 0xffff)
            }
        }
    }

    @Test("end-around carries at the edges: 8-byte words near all ones and near zero")
    func carryEdges() {
        var g = SeededGenerator(seed: 0xCA22)
        // The fast sum adds 8-byte native words, so its carries are stressed by whole words that sit
        // at or just off all ones and zero (little-endian: the first byte is the low one).
        let ones: [UInt8] = Array(repeating: 0xff, count: 8)
        let words: [[UInt8]] = [ones, ones, ones, Array(repeating: 0, count: 8), [1, 0, 0, 0, 0, 0, 0, 0],
                                [2, 0, 0, 0, 0, 0, 0, 0], [0xfe] + ones.dropFirst(), ones.dropLast() + [0xfe]]
        let alphabet: [UInt8] = [0x00, 0x01, 0xfe, 0xff, 0xff, 0xff]
        for _ in 0..<20000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &g) { bytes += words.randomElement(using: &g)! }
            for _ in 0..<Int.random(in: 0...7, using: &g) { bytes.append(alphabet.randomElement(using: &g)!) }
            let got = bytes.withUnsafeBytes { InternetChecksum.sum($0) }
            #expect(InternetChecksum.finish(got) == ~UInt16(referenceSum(bytes)), "\(bytes)")
        }
    }

    @Test("regression: carries that wrap the accumulator once more are not lost")
    func finalCarryWrap() {
        // Two all-ones words then a native 1: the accumulator is all ones with one carry pending,
        // and adding it wraps again. The sum once came out 0 instead of 0x0100.
        let bytes: [UInt8] = Array(repeating: 0xff, count: 16) + [1, 0, 0, 0, 0, 0, 0, 0]
        let got = bytes.withUnsafeBytes { InternetChecksum.sum($0) }
        #expect(referenceSum(bytes) == 0x0100)
        #expect(InternetChecksum.finish(got) == 0xfeff)
    }

    @Test("partial sums of even-length pieces combine to the sum of the whole")
    func combine() {
        var g = SeededGenerator(seed: 0xC0B1)
        for _ in 0..<500 {
            let a = g.bytes(Int.random(in: 0...200, using: &g) * 2)
            let b = g.bytes(Int.random(in: 0...401, using: &g))
            let whole = (a + b).withUnsafeBytes { InternetChecksum.sum($0) }
            let sa = a.withUnsafeBytes { InternetChecksum.sum($0) }
            let sb = b.withUnsafeBytes { InternetChecksum.sum($0) }
            #expect(InternetChecksum.finish(InternetChecksum.combine(sa, sb)) == InternetChecksum.finish(whole))
            let chained = b.withUnsafeBytes { InternetChecksum.sum($0, initial: sa) }
            #expect(InternetChecksum.finish(chained) == InternetChecksum.finish(whole))
        }
        #expect(InternetChecksum.combine(0xffff, 0xffff) == 0xffff)
        #expect(InternetChecksum.combine(0xffff, 1) == 1)
    }

    @Test("RFC 1624 section 4 example: eqn. 3 gives 0x0000, not -0")
    func rfc1624Example() {
        #expect(InternetChecksum.update(0xdd2f, oldWord: 0x5555, newWord: 0x3285) == 0x0000)
    }

    @Test("RFC 1624 update equals a full recompute for random headers and word changes")
    func updateMatchesRecompute() {
        var g = SeededGenerator(seed: 0x1624)
        for _ in 0..<2000 {
            var header = g.bytes(Int.random(in: 2...30, using: &g) * 2)
            let c = referenceChecksum(header)
            let wordIndex = Int.random(in: 0..<(header.count / 2), using: &g)
            let old = readBE16(header, wordIndex * 2)
            let new = g.chance(0.1) ? ~old : UInt16.random(in: 0...0xffff, using: &g)
            header[wordIndex * 2] = UInt8(new >> 8)
            header[wordIndex * 2 + 1] = UInt8(new & 0xff)
            let updated = InternetChecksum.update(c, oldWord: old, newWord: new)
            // With the checksum word in place, the whole must verify (sum to all ones).
            #expect(referenceSum(header + be16(updated)) == 0xffff, "word \(wordIndex) \(old) -> \(new)")
            // And it equals the recomputed checksum, up to the two one's-complement zeros.
            let recomputed = referenceChecksum(header)
            #expect(updated == recomputed || (updated, recomputed) == (0, 0xffff) || (updated, recomputed) == (0xffff, 0))
        }
    }

    @Test("RFC 1624 update of a 32-bit field (an address rewrite) equals a full recompute")
    func update32() throws {
        var g = SeededGenerator(seed: 0x3232)
        for _ in 0..<500 {
            var packet = KnownPackets.ipv4UDP
            let new = UInt32.random(in: 0...UInt32.max, using: &g)
            let c = readBE16(packet, 10)
            let updated = InternetChecksum.update(c, old: KnownPackets.v4Source.value, new: new)
            packet.replaceSubrange(12..<16, with: be32(new))
            packet.replaceSubrange(10..<12, with: be16(updated))
            #expect(referenceSum(packet[0..<20]) == 0xffff)
        }
    }

    @Test("IPv4 pseudo-header sum checks a TCP and a UDP packet with known-good checksums")
    func pseudoHeaderIPv4() {
        for (packet, proto, field) in [(KnownPackets.ipv4UDP, IPProtocol.udp, 6), (KnownPackets.ipv4TCP, IPProtocol.tcp, 16)] {
            let l4 = Array(packet[20...])
            let pseudo = InternetChecksum.pseudoHeaderSum(source: KnownPackets.v4Source,
                                                          destination: KnownPackets.v4Destination,
                                                          proto: proto, length: l4.count)
            #expect(pseudo == referenceSum(pseudoHeader(KnownPackets.v4Source, KnownPackets.v4Destination,
                                                        proto: proto, length: l4.count)))
            // Verifying: the sum over pseudo-header and segment, checksum included, is all ones.
            #expect(InternetChecksum.finish(l4.withUnsafeBytes { InternetChecksum.sum($0, initial: pseudo) }) == 0)
            // Computing: with the field zeroed, the result is the field's known value.
            var zeroed = l4
            zeroed[field] = 0
            zeroed[field + 1] = 0
            let computed = InternetChecksum.finish(zeroed.withUnsafeBytes { InternetChecksum.sum($0, initial: pseudo) })
            #expect(computed == readBE16(l4, field))
        }
    }

    @Test("IPv6 pseudo-header sum checks a TCP and a UDP packet with known-good checksums")
    func pseudoHeaderIPv6() {
        for (packet, proto, field) in [(KnownPackets.ipv6UDP, IPProtocol.udp, 6), (KnownPackets.ipv6TCP, IPProtocol.tcp, 16)] {
            let l4 = Array(packet[40...])
            let pseudo = InternetChecksum.pseudoHeaderSum(source: KnownPackets.v6Source,
                                                          destination: KnownPackets.v6Destination,
                                                          proto: proto, length: l4.count)
            #expect(pseudo == referenceSum(pseudoHeader(KnownPackets.v6Source, KnownPackets.v6Destination,
                                                        proto: proto, length: l4.count)))
            #expect(InternetChecksum.finish(l4.withUnsafeBytes { InternetChecksum.sum($0, initial: pseudo) }) == 0)
            var zeroed = l4
            zeroed[field] = 0
            zeroed[field + 1] = 0
            let computed = InternetChecksum.finish(zeroed.withUnsafeBytes { InternetChecksum.sum($0, initial: pseudo) })
            #expect(computed == readBE16(l4, field))
        }
    }

    @Test("pseudo-header sums match the reference for random addresses and lengths, jumbo lengths too")
    func pseudoHeaderRandom() {
        var g = SeededGenerator(seed: 0x9501)
        for _ in 0..<2000 {
            let proto = UInt8.random(in: 0...255, using: &g)
            let s4 = IPv4Address(UInt32.random(in: 0...UInt32.max, using: &g))
            let d4 = IPv4Address(UInt32.random(in: 0...UInt32.max, using: &g))
            let l4 = Int.random(in: 0...65535, using: &g)
            #expect(InternetChecksum.pseudoHeaderSum(source: s4, destination: d4, proto: proto, length: l4)
                == referenceSum(pseudoHeader(s4, d4, proto: proto, length: l4)))
            let s6 = IPv6Address(high: .random(in: 0...UInt64.max, using: &g), low: .random(in: 0...UInt64.max, using: &g))
            let d6 = IPv6Address(high: .random(in: 0...UInt64.max, using: &g), low: .random(in: 0...UInt64.max, using: &g))
            let l6 = Int.random(in: 0...0xff_ffff, using: &g)
            let got = InternetChecksum.pseudoHeaderSum(source: s6, destination: d6, proto: proto, length: l6)
            #expect(InternetChecksum.finish(got) == ~UInt16(referenceSum(pseudoHeader(s6, d6, proto: proto, length: l6))))
        }
    }
}
