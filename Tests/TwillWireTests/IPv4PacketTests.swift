import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("IPv4Packet")
struct IPv4PacketTests {
    static let packet = KnownPackets.ipv4UDP
    static let repr = IPv4Repr(source: KnownPackets.v4Source, destination: KnownPackets.v4Destination,
                               proto: IPProtocol.udp, payloadLength: 14, ttl: 64, dscpECN: 0,
                               identification: 0x1c46, dontFragment: true)

    @Test func deconstruct() throws {
        try withBytes(Self.packet) { b throws(WireError) in
            let p = try IPv4Packet(b)
            #expect(p.version == 4)
            #expect(p.headerLength == 20)
            #expect(p.dscpECN == 0)
            #expect(p.totalLength == 34)
            #expect(p.identification == 0x1c46)
            #expect(p.flagsAndFragmentOffset == 0x4000)
            #expect(p.dontFragment)
            #expect(!p.isFragment)
            #expect(p.ttl == 64)
            #expect(p.proto == IPProtocol.udp)
            #expect(p.headerChecksum == 0x0599)
            #expect(p.headerChecksumIsValid)
            #expect(p.source == KnownPackets.v4Source)
            #expect(p.destination == KnownPackets.v4Destination)
            #expect(p.header.count == 20)
            #expect(Array(p.payload) == Array(Self.packet[20...]))
            #expect(p.pseudoHeaderSum(upperLayerLength: 14)
                == referenceSum(pseudoHeader(p.source, p.destination, proto: 17, length: 14)))
        }
    }

    @Test func construct() throws {
        var out = [UInt8](repeating: 0xee, count: 20)
        try out.withUnsafeMutableBytes { b in
            let p = try IPv4Packet(uncheckedForEmit: b)
            store8(b.baseAddress!, 0, 0x45)
            p.dscpECN = 0
            p.totalLength = 34
            p.identification = 0x1c46
            p.flagsAndFragmentOffset = 0x4000
            p.ttl = 64
            p.proto = IPProtocol.udp
            p.source = KnownPackets.v4Source
            p.destination = KnownPackets.v4Destination
            p.fillHeaderChecksum()
        }
        #expect(out == Array(Self.packet[0..<20]))
    }

    @Test func parse() throws {
        let r = try withBytes(Self.packet) { b throws(WireError) in IPv4Repr(parsing: try IPv4Packet(b)) }
        #expect(r == Self.repr)
    }

    @Test func emit() throws {
        var out = [UInt8](repeating: 0xee, count: 20)
        try out.withUnsafeMutableBytes { b in try Self.repr.emit(into: b) }
        #expect(out == Array(Self.packet[0..<20]))
        var small = [UInt8](repeating: 0, count: 19)
        #expect(small.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try Self.repr.emit(into: b) } } == .bufferTooSmall)
        var big = Self.repr
        big.payloadLength = 65516
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try big.emit(into: b) } } == .ipv4TotalLength)
        big.payloadLength = -1
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try big.emit(into: b) } } == .ipv4TotalLength)
    }

    @Test("options are part of the header; padding past the total length is not part of the packet")
    func optionsAndPadding() throws {
        // IHL 6 (one option word: NOP NOP NOP EOL), total 28, two bytes of link padding.
        var b: [UInt8] = [0x46, 0, 0, 28, 0, 1, 0x20, 0, 1, 17, 0, 0] + be32(0x0a00_0001) + be32(0x0a00_0002)
        b += [1, 1, 1, 0]
        let c = referenceChecksum(b)
        b[10] = UInt8(c >> 8)
        b[11] = UInt8(c & 0xff)
        b += [9, 9, 9, 9, 0xde, 0xad]
        try withBytes(b) { buf throws(WireError) in
            let p = try IPv4Packet(buf)
            #expect(p.headerLength == 24)
            #expect(p.headerChecksumIsValid)
            #expect(p.isFragment, "MF set")
            #expect(!p.dontFragment)
            #expect(p.packet.count == 28)
            #expect(Array(p.payload) == [9, 9, 9, 9])
            #expect(IPv4Repr(parsing: p).payloadLength == 4)
        }
    }

    @Test("each malformed header has its own reason")
    func refusals() {
        func reason(_ b: [UInt8]) -> WireError? { withBytes(b) { x in wireError { () throws(WireError) in try IPv4Packet(x) } } }
        var p = Self.packet
        #expect(reason(Array(p[0..<19])) == .truncated)
        #expect(reason([]) == .truncated)
        p[0] = 0x65
        #expect(reason(p) == .notIP)
        p[0] = 0x44
        #expect(reason(p) == .ipv4HeaderLength, "IHL 4")
        p[0] = 0x4f
        #expect(reason(p) == .ipv4HeaderLength, "IHL 15 = 60 bytes > 34")
        p[0] = 0x45
        p[3] = 35
        #expect(reason(p) == .ipv4TotalLength, "total past the bytes")
        p[3] = 19
        #expect(reason(p) == .ipv4TotalLength, "total below the header")
        p[3] = 20
        #expect(reason(p) == nil, "a header alone is a packet")
    }

    @Test("TTL decrement keeps the checksum valid (RFC 1624) and refuses TTL 0 and 1")
    func decrementTTL() throws {
        var g = SeededGenerator(seed: 0x771)
        for _ in 0..<500 {
            let gen = PacketFactory.ipv4(using: &g, maxPayload: 40)
            let startTTL = gen.bytes[8]
            var b = gen.bytes
            let ok = try b.withUnsafeMutableBytes { x in try IPv4Packet(x).decrementTTL() }
            if startTTL > 1 {
                #expect(ok)
                #expect(b[8] == startTTL - 1)
                #expect(referenceSum(b[0..<gen.headerLength]) == 0xffff)
                var recomputed = b
                recomputed[10] = 0
                recomputed[11] = 0
                #expect(referenceChecksum(recomputed[0..<gen.headerLength]) == readBE16(b, 10)
                    || readBE16(b, 10) == 0 || readBE16(b, 10) == 0xffff)
            } else {
                #expect(!ok)
                #expect(b == gen.bytes)
            }
        }
        for ttl: UInt8 in [0, 1] {
            var b = Self.packet
            b[8] = ttl
            let ok = try b.withUnsafeMutableBytes { x in try IPv4Packet(x).decrementTTL() }
            #expect(!ok)
            #expect(b[8] == ttl)
        }
    }

    @Test("Repr round trip over random headers")
    func reprRoundTrip() throws {
        var g = SeededGenerator(seed: 0x4444)
        for _ in 0..<1000 {
            let r = IPv4Repr(source: IPv4Address(.random(in: 0...UInt32.max, using: &g)),
                             destination: IPv4Address(.random(in: 0...UInt32.max, using: &g)),
                             proto: .random(in: 0...255, using: &g), payloadLength: .random(in: 0...65515, using: &g),
                             ttl: .random(in: 0...255, using: &g), dscpECN: .random(in: 0...255, using: &g),
                             identification: .random(in: 0...65535, using: &g), dontFragment: g.chance(0.5))
            var buf = [UInt8](repeating: 0, count: 20)
            try buf.withUnsafeMutableBytes { b in try r.emit(into: b) }
            #expect(referenceSum(buf) == 0xffff)
            buf += [UInt8](repeating: 0, count: r.payloadLength)
            let back = try withBytes(buf) { b throws(WireError) in IPv4Repr(parsing: try IPv4Packet(b)) }
            #expect(back == r)
        }
    }
}
