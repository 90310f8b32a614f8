import Testing
import TwillTestSupport
@testable import TwillWire

// Randomized split-then-merge: a TSO superpacket cut by `Superpacket` and its segments fed to `TCPRun`
// as the ingress loop feeds them must give back exactly the packets a sender would have sent: every
// segment that may join (plain ACK or PSH|ACK, no IPv4 options or IPv6 extension headers) in one run,
// the others (FIN on the last, CWR on the first) alone. Expected packets are built from scratch.

@Suite("Segmentation and coalescing round trip")
struct SplitMergeRoundTripTests {
    static let cases = 3000

    /// A random superpacket (its fields, and its payload cut from `pool`) and its GSO size.
    static func randomCase<G: RandomNumberGenerator>(using g: inout G, pool: [UInt8]) -> (TestPacket, Int) {
        var p = TestPacket()
        p.version = g.chance(0.5) ? 4 : 6
        p.tos = .random(in: 0...255, using: &g)
        p.flowLabel = .random(in: 0...0xfffff, using: &g)
        p.identification = .random(in: 0...0xffff, using: &g)
        p.fragment = g.chance(0.5) ? 0x4000 : 0
        p.ttl = .random(in: 1...255, using: &g)
        if g.chance(0.1) {
            if p.version == 4 {
                p.ipOptions = g.bytes(4 * Int.random(in: 1...10, using: &g))
            } else {
                p.ipv6Extensions = [IPProtocol.tcp, 0] + g.bytes(6)
            }
        }
        p.source4 = IPv4Address(.random(in: 0...UInt32.max, using: &g))
        p.destination4 = IPv4Address(.random(in: 0...UInt32.max, using: &g))
        p.source6 = IPv6Address(high: .random(in: 0...UInt64.max, using: &g), low: .random(in: 0...UInt64.max, using: &g))
        p.destination6 = IPv6Address(high: .random(in: 0...UInt64.max, using: &g), low: .random(in: 0...UInt64.max, using: &g))
        p.sourcePort = .random(in: 1...65535, using: &g)
        p.destinationPort = .random(in: 1...65535, using: &g)
        p.sequence = .random(in: 0...UInt32.max, using: &g)
        p.acknowledgment = .random(in: 0...UInt32.max, using: &g)
        p.window = .random(in: 0...0xffff, using: &g)
        switch Int.random(in: 0..<4, using: &g) {
        case 0, 1: p.tcpOptions = []
        case 2: p.tcpOptions = [1, 1, 8, 10] + g.bytes(8)
        default: p.tcpOptions = g.bytes(4 * Int.random(in: 1...10, using: &g))
        }
        p.flags = TCPFlags.ack
        if g.chance(0.5) { p.flags |= TCPFlags.psh }
        if g.chance(0.3) { p.flags |= TCPFlags.fin }
        if g.chance(0.1) { p.flags |= TCPFlags.cwr }
        // Mostly small segments (as over a 1500-byte underlay) and a few of them, which keeps the
        // byte-by-byte reference sums fast; now and then the largest payloads (up to 650 segments).
        let gso = Int.random(in: 100...(g.chance(0.7) ? 1500 : 9000), using: &g)
        let length = g.chance(0.02)
            ? Int.random(in: 60000...65000, using: &g)
            : Int.random(in: 1...(gso * Int.random(in: 1...6, using: &g)), using: &g)
        let at = Int.random(in: 0...(pool.count - length), using: &g)
        p.payload = Array(pool[at..<(at + length)])
        return (p, gso)
    }

    /// Segment `i` of `count` as the sender's TSO would have sent it.
    static func segment(_ i: Int, of count: Int, _ p: TestPacket, gso: Int) -> TestPacket {
        var q = p
        q.identification = p.identification &+ UInt16(truncatingIfNeeded: i)
        q.sequence = p.sequence &+ UInt32(i * gso)
        if i != count - 1 { q.flags &= ~(TCPFlags.fin | TCPFlags.psh) }
        if i != 0 { q.flags &= ~TCPFlags.cwr }
        q.payload = Array(p.payload[(i * gso)..<min(p.payload.count, (i + 1) * gso)])
        return q
    }

    /// What the coalescer must write for `p` cut into `gso`-byte segments: runs of the segments that
    /// may join, each as one packet (checksum completed), the others alone.
    static func expectedOutput(_ p: TestPacket, gso: Int) -> [(vnet: VirtioNetHeader, bytes: [UInt8])] {
        let count = max(1, (p.payload.count + gso - 1) / gso)
        let segments = (0..<count).map { segment($0, of: count, p, gso: gso) }
        let plain = p.ipOptions.isEmpty && p.ipv6Extensions.isEmpty
        let joins = segments.map { plain && $0.flags & ~TCPFlags.psh == TCPFlags.ack }
        var out: [(VirtioNetHeader, [UInt8])] = []
        var i = 0
        while i < count {
            var end = i + 1
            if joins[i] { while end < count && joins[end] { end += 1 } }
            if end - i == 1 {
                out.append((VirtioNetHeader(), segments[i].bytes()))
            } else {
                var m = segments[i]
                m.payload = segments[i..<end].flatMap(\.payload)
                m.flags |= segments[end - 1].flags & TCPFlags.psh
                let vnet = VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum,
                                           gsoType: p.version == 4 ? VirtioNetHeader.gsoTCPv4 : VirtioNetHeader.gsoTCPv6,
                                           headerLength: UInt16(p.headerLength), gsoSize: UInt16(gso),
                                           checksumStart: UInt16(p.ipHeaderLength), checksumOffset: 16)
                out.append((vnet, m.bytes()))
            }
            i = end
        }
        return out
    }

    @Test("random superpackets split and merged again: IPv4 and IPv6, options, PSH/FIN/CWR, 1 to 65000 bytes")
    func roundTrip() throws {
        var g = SeededGenerator(seed: 0x5e9_7e57)
        let pool = g.bytes(65000)
        var segmentsSeen = 0, runsSeen = 0, wholeRuns = 0, bytesSeen = 0
        for n in 0..<Self.cases {
            let (p, gso) = Self.randomCase(using: &g, pool: pool)
            let superpacket = p.bytes(checksum: .partial)
            let segments = try withSuperpacket(superpacket, gsoHeader(for: p, gsoSize: gso)) { materializedSegments($0) }
            segmentsSeen += segments.count
            bytesSeen += p.payload.count
            let out = coalesce(segments)
            let expected = Self.expectedOutput(p, gso: gso)
            let what = "case \(n): IPv\(p.version), \(p.payload.count) bytes in \(gso)s, flags \(p.flags), "
                + "IP options \(p.ipOptions.count + p.ipv6Extensions.count), TCP options \(p.tcpOptions.count)"
            #expect(out.count == expected.count, "\(what)")
            guard out.count == expected.count else { continue }
            for (o, e) in zip(out, expected) {
                #expect(o.vnet == e.vnet, "\(what)")
                let bytes = o.vnet.gsoType == VirtioNetHeader.gsoNone
                    ? o.bytes : completedByReference(o.bytes, start: p.ipHeaderLength, offset: 16)
                #expect(bytes == e.bytes, "\(what)")
                if o.vnet.gsoType != VirtioNetHeader.gsoNone { runsSeen += 1 }
            }
            // Nothing lost or repeated: the payloads, in order, are the superpacket's.
            #expect(out.flatMap { $0.bytes[p.headerLength...] } == p.payload, "\(what)")
            // One run of everything is the superpacket itself, but for the checksum field (which held
            // the pseudo-header sum for the full length there too).
            if out.count == 1 && segments.count > 1 {
                wholeRuns += 1
                #expect(out[0].bytes == superpacket, "\(what)")
            }
        }
        // The cases must have exercised what they claim.
        #expect(segmentsSeen > 3 * Self.cases && runsSeen > Self.cases / 3 && wholeRuns > Self.cases / 4 && bytesSeen > 10_000_000)
    }
}
