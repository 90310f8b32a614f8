import Testing
@testable import TwillWire

@Suite("IPv6Packet")
struct IPv6PacketTests {
    static let packet = KnownPackets.ipv6UDP
    static let repr = IPv6Repr(source: KnownPackets.v6Source, destination: KnownPackets.v6Destination,
                               nextHeader: IPProtocol.udp, payloadLength: 14, hopLimit: 64)

    @Test func deconstruct() throws {
        var b = Self.packet
        b[0] = 0x6b  // traffic class 0xb5, flow label 0x12345
        b[1] = 0x51
        b[2] = 0x23
        b[3] = 0x45
        try withBytes(b) { x throws(WireError) in
            let p = try IPv6Packet(x)
            #expect(p.version == 6)
            #expect(p.trafficClass == 0xb5)
            #expect(p.flowLabel == 0x12345)
            #expect(p.payloadLength == 14)
            #expect(p.nextHeader == IPProtocol.udp)
            #expect(p.hopLimit == 64)
            #expect(p.source == KnownPackets.v6Source)
            #expect(p.destination == KnownPackets.v6Destination)
            #expect(p.totalLength == 54)
            #expect(p.packet.count == 54)
            let t = try p.transport()
            #expect(t.proto == IPProtocol.udp)
            #expect(t.offset == 40)
            #expect(p.pseudoHeaderSum(proto: 17, upperLayerLength: 14)
                == referenceSum(pseudoHeader(p.source, p.destination, proto: 17, length: 14)))
        }
    }

    @Test func construct() throws {
        var out = [UInt8](repeating: 0xee, count: 40)
        try out.withUnsafeMutableBytes { b in
            let p = try IPv6Packet(uncheckedForEmit: b)
            store32(b.baseAddress!, 0, 0x6000_0000)
            p.payloadLength = 14
            p.nextHeader = IPProtocol.udp
            p.hopLimit = 64
            p.source = KnownPackets.v6Source
            p.destination = KnownPackets.v6Destination
        }
        #expect(out == Array(Self.packet[0..<40]))
    }

    @Test func parse() throws {
        let r = try withBytes(Self.packet) { b throws(WireError) in IPv6Repr(parsing: try IPv6Packet(b)) }
        #expect(r == Self.repr)
    }

    @Test func emit() throws {
        var out = [UInt8](repeating: 0xee, count: 40)
        try out.withUnsafeMutableBytes { b in try Self.repr.emit(into: b) }
        #expect(out == Array(Self.packet[0..<40]))
        var r = Self.repr
        r.trafficClass = 0xb5
        r.flowLabel = 0xf_ffff
        try out.withUnsafeMutableBytes { b in try r.emit(into: b) }
        #expect(Array(out[0..<4]) == [0x6b, 0x5f, 0xff, 0xff])
        var small = [UInt8](repeating: 0, count: 39)
        #expect(small.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try r.emit(into: b) } } == .bufferTooSmall)
        r.payloadLength = 65536
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try r.emit(into: b) } } == .ipv6PayloadLength)
        r.payloadLength = -1
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try r.emit(into: b) } } == .ipv6PayloadLength)
    }

    @Test("each malformed fixed header has its own reason")
    func refusals() {
        func reason(_ b: [UInt8]) -> WireError? { withBytes(b) { x in wireError { () throws(WireError) in try IPv6Packet(x) } } }
        var p = Self.packet
        #expect(reason(Array(p[0..<39])) == .truncated)
        #expect(reason(Array(p[0..<53])) == .ipv6PayloadLength)
        p[0] = 0x40
        #expect(reason(p) == .notIP)
        p[0] = 0x60
        p[5] = 0
        #expect(reason(Array(p[0..<40])) == nil, "an empty payload is legal")
    }

    /// Builds fixed header + chain + 8 transport bytes; `chain` is [(kind, header bytes after the 2-byte prefix)].
    static func chained(_ kinds: [UInt8], final: UInt8, fragmentOffset: UInt16 = 0) -> [UInt8] {
        var chain: [UInt8] = []
        for (i, k) in kinds.enumerated() {
            let next = i + 1 < kinds.count ? kinds[i + 1] : final
            switch k {
            case IPProtocol.fragment: chain += [next, 0] + be16(fragmentOffset << 3 | 1) + [0, 0, 0, 1] // MF set
            case IPProtocol.authentication: chain += [next, 1] + [UInt8](repeating: 0, count: 10)
            default: chain += [next, 1] + [UInt8](repeating: 0, count: 14)
            }
        }
        let transport: [UInt8] = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]
        var b = Array(Self.packet[0..<40])
        b[6] = kinds.first ?? final
        b.replaceSubrange(4..<6, with: be16(UInt16(chain.count + transport.count)))
        return b + chain + transport
    }

    @Test("transport() walks hop-by-hop, routing, destination options, fragment and AH headers")
    func extensionChain() throws {
        let kinds = [IPProtocol.hopByHop, IPProtocol.routing, IPProtocol.fragment, IPProtocol.authentication,
                     IPProtocol.destinationOptions]
        let b = Self.chained(kinds, final: IPProtocol.udp)
        let t = try withBytes(b) { x throws(WireError) in try IPv6Packet(x).transport() }
        #expect(t.proto == IPProtocol.udp)
        #expect(t.offset == 40 + 16 + 16 + 8 + 12 + 16)
    }

    @Test("a non-first fragment reports noNextHeader, wherever its fragment header stands")
    func laterFragment() throws {
        for kinds in [[IPProtocol.fragment], [IPProtocol.hopByHop, IPProtocol.fragment],
                      [IPProtocol.hopByHop, IPProtocol.destinationOptions, IPProtocol.fragment]] {
            let b = Self.chained(kinds, final: IPProtocol.udp, fragmentOffset: 185)
            let w = try withBytes(b) { x throws(WireError) in try IPv6Packet(x).walkExtensionHeaders() }
            #expect(w.proto == IPProtocol.noNextHeader)
            #expect(w.nonFirstFragment)
        }
        // A first fragment walks on to the transport; a real "no next header" is not a fragment.
        let first = try withBytes(Self.chained([IPProtocol.fragment], final: IPProtocol.tcp)) { x throws(WireError) in
            try IPv6Packet(x).walkExtensionHeaders()
        }
        #expect(first.proto == IPProtocol.tcp && !first.nonFirstFragment)
        #expect(first.isFragment, "MF is set in the test chain")
        let none = try withBytes(Self.chained([IPProtocol.fragment], final: IPProtocol.noNextHeader)) { x throws(WireError) in
            try IPv6Packet(x).walkExtensionHeaders()
        }
        #expect(none.proto == IPProtocol.noNextHeader && !none.nonFirstFragment)
        // Offset 0 and MF clear: an atomic fragment (RFC 6946), a whole packet.
        var atomic = Self.chained([IPProtocol.fragment], final: IPProtocol.udp)
        atomic[43] = 0
        let a = try withBytes(atomic) { x throws(WireError) in try IPv6Packet(x).walkExtensionHeaders() }
        #expect(a.proto == IPProtocol.udp && !a.isFragment && !a.nonFirstFragment)
    }

    @Test("up to maximumExtensionHeaders headers are followed; one more is refused")
    func chainLimit() throws {
        let n = IPv6Packet.maximumExtensionHeaders
        let ok = Self.chained([IPProtocol.hopByHop] + Array(repeating: IPProtocol.destinationOptions, count: n - 1),
                              final: IPProtocol.udp)
        let t = try withBytes(ok) { x throws(WireError) in try IPv6Packet(x).transport() }
        #expect(t.proto == IPProtocol.udp)
        let tooLong = Self.chained([IPProtocol.hopByHop] + Array(repeating: IPProtocol.destinationOptions, count: n),
                                   final: IPProtocol.udp)
        #expect(withBytes(tooLong) { x in wireError { () throws(WireError) in try IPv6Packet(x).transport() } }
            == .ipv6ExtensionHeaders)
    }

    @Test("a chain that runs past the payload length is refused")
    func chainPastEnd() throws {
        let kinds = [IPProtocol.hopByHop, IPProtocol.routing, IPProtocol.fragment, IPProtocol.authentication]
        let full = Self.chained(kinds, final: IPProtocol.udp)
        let chainEnd = 40 + 16 + 16 + 8 + 12
        // Cut the declared payload (and the bytes) anywhere inside the chain.
        for end in 40..<chainEnd {
            var b = Array(full[0..<end])
            b.replaceSubrange(4..<6, with: be16(UInt16(end - 40)))
            let reason = withBytes(b) { x in wireError { () throws(WireError) in try IPv6Packet(x).transport() } }
            #expect(reason == .ipv6ExtensionHeaders, "payload cut at \(end)")
        }
        // Bytes past the payload length do not lengthen it.
        var b = full
        b.replaceSubrange(4..<6, with: be16(20))
        #expect(withBytes(b) { x in wireError { () throws(WireError) in try IPv6Packet(x).transport() } } == .ipv6ExtensionHeaders)
    }

    @Test func hopLimit() throws {
        var b = Self.packet
        let ok = try b.withUnsafeMutableBytes { x in try IPv6Packet(x).decrementHopLimit() }
        #expect(ok && b[7] == 63)
        b[7] = 1
        let no = try b.withUnsafeMutableBytes { x in try IPv6Packet(x).decrementHopLimit() }
        #expect(!no && b[7] == 1)
    }
}
