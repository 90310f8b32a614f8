import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("ICMPError")
struct ICMPErrorTests {
    static let router4 = IPv4Address(10, 244, 1, 1)
    static let router6 = IPv6Address(high: 0xfd00_0000_0000_0000, low: 0xfe)

    /// Runs the v4 builder over a copy of `original`; the output array is cut to the returned length.
    static func build4(_ original: [UInt8], type: UInt8 = ICMPv4Type.destinationUnreachable,
                       code: UInt8 = ICMPv4Type.codeNetUnreachable, room: Int = 1500) -> [UInt8] {
        var out = [UInt8](repeating: 0xee, count: room)
        let n = withBytes(original) { o in
            out.withUnsafeMutableBytes { ICMPError.buildIPv4(type: type, code: code, original: o, source: router4, into: $0) }
        }
        return Array(out[0..<n])
    }

    static func build6(_ original: [UInt8], type: UInt8 = ICMPv6Type.destinationUnreachable,
                       code: UInt8 = ICMPv6Type.codeNoRoute, room: Int = 1500) -> [UInt8] {
        var out = [UInt8](repeating: 0xee, count: room)
        let n = withBytes(original) { o in
            out.withUnsafeMutableBytes { ICMPError.buildIPv6(type: type, code: code, original: o, source: router6, into: $0) }
        }
        return Array(out[0..<n])
    }

    /// An IPv4 packet with a valid header checksum and the given fields.
    static func ipv4(proto: UInt8, body: [UInt8], source: IPv4Address = KnownPackets.v4Source,
                     destination: IPv4Address = KnownPackets.v4Destination, frag: UInt16 = 0x4000) -> [UInt8] {
        var b: [UInt8] = [0x45, 0] + be16(UInt16(20 + body.count)) + [0, 7] + be16(frag) + [64, proto, 0, 0]
        b += be32(source.value) + be32(destination.value)
        let c = referenceChecksum(b)
        b[10] = UInt8(c >> 8)
        b[11] = UInt8(c & 0xff)
        return b + body
    }

    /// Checks an ICMPv4 error against the rules and the original; returns the quoted bytes.
    static func checkIPv4Error(_ e: [UInt8], about original: [UInt8], type: UInt8, code: UInt8) -> [UInt8] {
        #expect(e.count >= 28)
        guard e.count >= 28 else { return [] }
        #expect(e[0] == 0x45)
        #expect(Int(readBE16(e, 2)) == e.count)
        #expect(e[9] == IPProtocol.icmp)
        #expect(e[8] == 64)
        #expect(readBE16(e, 6) & 0x4000 == 0, "an error may be fragmented")
        #expect(referenceSum(e[0..<20]) == 0xffff, "IPv4 header checksum")
        #expect(Array(e[12..<16]) == be32(router4.value))
        #expect(Array(e[16..<20]) == Array(original[12..<16]), "sent back to the original's source")
        #expect(e[20] == type && e[21] == code)
        #expect(Array(e[24..<28]) == [0, 0, 0, 0])
        #expect(referenceSum(e[20...]) == 0xffff, "ICMP checksum")
        return Array(e[28...])
    }

    @Test("IPv4 destination unreachable quotes the whole short original with valid checksums")
    func ipv4Short() throws {
        let e = Self.build4(KnownPackets.ipv4UDP)
        #expect(e.count == 20 + 8 + 34)
        let quoted = Self.checkIPv4Error(e, about: KnownPackets.ipv4UDP, type: 3, code: 0)
        #expect(quoted == KnownPackets.ipv4UDP)
        // The view reads the same fields.
        try withBytes(Array(e[20...])) { b throws(WireError) in
            let m = try ICMPMessage(b)
            #expect(m.type == 3 && m.code == 0 && m.restOfHeader == 0)
            #expect(m.checksum == readBE16(e, 22))
            #expect(Array(m.body) == KnownPackets.ipv4UDP)
        }
    }

    @Test("IPv4 time exceeded quotes at most 576 - 28 bytes, and never link padding")
    func ipv4Long() {
        var g = SeededGenerator(seed: 0x576)
        let long = Self.ipv4(proto: IPProtocol.udp, body: g.bytes(1380))
        let e = Self.build4(long, type: ICMPv4Type.timeExceeded, code: ICMPv4Type.codeTTLExceeded)
        #expect(e.count == 576)
        #expect(Self.checkIPv4Error(e, about: long, type: 11, code: 0) == Array(long[0..<548]))
        let padded = KnownPackets.ipv4UDP + [0, 0, 0, 0, 0, 0]
        #expect(Self.checkIPv4Error(Self.build4(padded), about: padded, type: 3, code: 0) == KnownPackets.ipv4UDP)
    }

    @Test("ICMPv4 queries may get an error; ICMPv4 errors and empty ICMP never do",
          arguments: [(0, true), (8, true), (13, true), (14, true), (3, false), (11, false), (12, false), (5, false), (4, false)]
            as [(UInt8, Bool)])
    func ipv4AboutICMP(_ icmpType: UInt8, _ allowed: Bool) {
        let original = Self.ipv4(proto: IPProtocol.icmp, body: [icmpType, 0, 0, 0, 0, 0, 0, 0])
        let e = Self.build4(original)
        #expect(e.isEmpty != allowed)
        if allowed { _ = Self.checkIPv4Error(e, about: original, type: 3, code: 0) }
        #expect(Self.build4(Self.ipv4(proto: IPProtocol.icmp, body: [])).isEmpty)
    }

    @Test("no IPv4 error about a multicast or broadcast destination or a source that is not one host")
    func ipv4Addresses() {
        for d in [IPv4Address(224, 0, 0, 5), IPv4Address(239, 1, 2, 3), IPv4Address(255, 255, 255, 255)] {
            #expect(Self.build4(Self.ipv4(proto: IPProtocol.udp, body: [1, 2, 3, 4], destination: d)).isEmpty, "\(d)")
        }
        for s in [IPv4Address(0), IPv4Address(127, 0, 0, 1), IPv4Address(224, 0, 0, 1), IPv4Address(240, 0, 0, 1),
                  IPv4Address(255, 255, 255, 255)] {
            #expect(Self.build4(Self.ipv4(proto: IPProtocol.udp, body: [1, 2, 3, 4], source: s)).isEmpty, "\(s)")
        }
        #expect(!Self.build4(Self.ipv4(proto: IPProtocol.udp, body: [1, 2, 3, 4], source: IPv4Address(192, 0, 2, 9))).isEmpty)
    }

    @Test("no IPv4 error about a non-first fragment; a first fragment gets one")
    func ipv4Fragments() {
        let body = [UInt8](repeating: 7, count: 16)
        #expect(Self.build4(Self.ipv4(proto: IPProtocol.udp, body: body, frag: 0x2000 | 185)).isEmpty, "middle")
        #expect(Self.build4(Self.ipv4(proto: IPProtocol.udp, body: body, frag: 185)).isEmpty, "last")
        #expect(!Self.build4(Self.ipv4(proto: IPProtocol.udp, body: body, frag: 0x2000)).isEmpty, "first")
        // An ICMP error's first fragment is still an ICMP error.
        #expect(Self.build4(Self.ipv4(proto: IPProtocol.icmp, body: [3] + body, frag: 0x2000)).isEmpty)
    }

    @Test("IPv4: malformed originals and small output buffers give 0")
    func ipv4Refusals() {
        #expect(Self.build4([]).isEmpty)
        #expect(Self.build4(Array(KnownPackets.ipv4UDP[0..<33])).isEmpty, "total length past the bytes")
        #expect(Self.build4(KnownPackets.ipv6UDP).isEmpty)
        #expect(Self.build4(KnownPackets.ipv4UDP, room: 61).isEmpty)
        #expect(Self.build4(KnownPackets.ipv4UDP, room: 62).count == 62)
        var out = [UInt8](repeating: 0, count: 100)
        let n = out.withUnsafeMutableBytes { o in
            ICMPError.buildIPv4(type: 3, code: 0, original: UnsafeMutableRawBufferPointer(start: nil, count: 0),
                                source: Self.router4, into: o)
        }
        #expect(n == 0)
    }

    /// Checks an ICMPv6 error; returns the quoted bytes.
    static func checkIPv6Error(_ e: [UInt8], about original: [UInt8], type: UInt8, code: UInt8) -> [UInt8] {
        #expect(e.count >= 48)
        guard e.count >= 48 else { return [] }
        #expect(e[0] >> 4 == 6)
        #expect(Int(readBE16(e, 4)) == e.count - 40)
        #expect(e[6] == IPProtocol.icmpv6)
        #expect(e[7] == 64)
        #expect(Array(e[8..<24]) == be64(router6.high) + be64(router6.low))
        #expect(Array(e[24..<40]) == Array(original[8..<24]), "sent back to the original's source")
        #expect(e[40] == type && e[41] == code)
        #expect(Array(e[44..<48]) == [0, 0, 0, 0])
        let dst = IPv6Address(high: load64BE(original, 8), low: load64BE(original, 16))
        let pseudo = pseudoHeader(router6, dst, proto: IPProtocol.icmpv6, length: e.count - 40)
        #expect(referenceSum(pseudo + e[40...]) == 0xffff, "ICMPv6 checksum over the pseudo-header")
        return Array(e[48...])
    }

    static func load64BE(_ b: [UInt8], _ i: Int) -> UInt64 { b[i..<(i + 8)].reduce(0) { $0 << 8 | UInt64($1) } }

    /// An IPv6 packet: fixed header, `chain` of (kind, next) extension headers, then `body` under `final`.
    static func ipv6(chain: [UInt8] = [], final: UInt8, body: [UInt8], fragmentOffset: UInt16 = 0,
                     source: IPv6Address = KnownPackets.v6Source,
                     destination: IPv6Address = KnownPackets.v6Destination) -> [UInt8] {
        var ext: [UInt8] = []
        for (i, k) in chain.enumerated() {
            let next = i + 1 < chain.count ? chain[i + 1] : final
            ext += k == IPProtocol.fragment ? [next, 0] + be16(fragmentOffset << 3) + [0, 0, 0, 9]
                                            : [next, 0, 1, 4, 0, 0, 0, 0]
        }
        var b = be32(0x6000_0000) + be16(UInt16(ext.count + body.count)) + [chain.first ?? final, 64]
        b += be64(source.high) + be64(source.low) + be64(destination.high) + be64(destination.low)
        return b + ext + body
    }

    @Test("IPv6 destination unreachable quotes the original with a valid checksum")
    func ipv6Short() {
        let e = Self.build6(KnownPackets.ipv6UDP)
        #expect(e.count == 40 + 8 + 54)
        #expect(Self.checkIPv6Error(e, about: KnownPackets.ipv6UDP, type: 1, code: 0) == KnownPackets.ipv6UDP)
    }

    @Test("IPv6 errors stop at the minimum MTU, 1280 bytes")
    func ipv6Long() {
        var g = SeededGenerator(seed: 0x1280)
        let long = Self.ipv6(final: IPProtocol.udp, body: g.bytes(1400))
        let e = Self.build6(long, type: ICMPv6Type.timeExceeded, code: ICMPv6Type.codeHopLimitExceeded)
        #expect(e.count == 1280)
        #expect(Self.checkIPv6Error(e, about: long, type: 3, code: 0) == Array(long[0..<1232]))
    }

    @Test("ICMPv6 informational messages may get an error; errors and redirects never do",
          arguments: [(128, true), (129, true), (135, true), (1, false), (2, false), (3, false), (4, false), (127, false),
                      (137, false)] as [(UInt8, Bool)])
    func ipv6AboutICMP(_ icmpType: UInt8, _ allowed: Bool) {
        let body: [UInt8] = [icmpType, 0, 0, 0, 0, 0, 0, 0]
        #expect(Self.build6(Self.ipv6(final: IPProtocol.icmpv6, body: body)).isEmpty != allowed)
        // Behind extension headers too.
        let chained = Self.ipv6(chain: [IPProtocol.hopByHop, IPProtocol.destinationOptions], final: IPProtocol.icmpv6, body: body)
        #expect(Self.build6(chained).isEmpty != allowed)
        #expect(Self.build6(Self.ipv6(final: IPProtocol.icmpv6, body: [])).isEmpty)
    }

    @Test("no IPv6 error about a multicast destination, a multicast source or the unspecified source")
    func ipv6Addresses() {
        let body: [UInt8] = [1, 2, 3, 4, 0, 12, 0, 0, 1, 2, 3, 4]
        let mcast = IPv6Address(high: 0xff02_0000_0000_0000, low: 1)
        #expect(Self.build6(Self.ipv6(final: IPProtocol.udp, body: body, destination: mcast)).isEmpty)
        #expect(Self.build6(Self.ipv6(final: IPProtocol.udp, body: body, source: mcast)).isEmpty)
        #expect(Self.build6(Self.ipv6(final: IPProtocol.udp, body: body, source: IPv6Address(high: 0, low: 0))).isEmpty)
        #expect(!Self.build6(Self.ipv6(final: IPProtocol.udp, body: body)).isEmpty)
    }

    @Test("no IPv6 error about a non-first fragment, even behind other extension headers")
    func ipv6Fragments() {
        let body = [UInt8](repeating: 3, count: 24)
        for chain in [[IPProtocol.fragment], [IPProtocol.hopByHop, IPProtocol.fragment],
                      [IPProtocol.hopByHop, IPProtocol.routing, IPProtocol.fragment]] {
            #expect(Self.build6(Self.ipv6(chain: chain, final: IPProtocol.udp, body: body, fragmentOffset: 100)).isEmpty,
                    "\(chain)")
            #expect(!Self.build6(Self.ipv6(chain: chain, final: IPProtocol.udp, body: body)).isEmpty, "first, \(chain)")
        }
        // A whole packet whose fragment header says "first" and then "no next header" is no later fragment.
        #expect(!Self.build6(Self.ipv6(chain: [IPProtocol.fragment], final: IPProtocol.noNextHeader, body: [])).isEmpty)
    }

    @Test("IPv6: malformed originals, chains that cannot be walked and small buffers give 0")
    func ipv6Refusals() {
        #expect(Self.build6([]).isEmpty)
        #expect(Self.build6(Array(KnownPackets.ipv6UDP[0..<53])).isEmpty)
        #expect(Self.build6(KnownPackets.ipv4UDP).isEmpty)
        #expect(Self.build6(KnownPackets.ipv6UDP, room: 101).isEmpty)
        #expect(Self.build6(KnownPackets.ipv6UDP, room: 102).count == 102)
        // Too many extension headers: what lies behind them is unknown, so nothing is sent.
        let long = Self.ipv6(chain: [IPProtocol.hopByHop] + Array(repeating: IPProtocol.destinationOptions, count: 9),
                             final: IPProtocol.icmpv6, body: [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(Self.build6(long).isEmpty)
        // A chain running past the payload.
        var cut = Self.ipv6(chain: [IPProtocol.hopByHop], final: IPProtocol.udp, body: [])
        cut.replaceSubrange(4..<6, with: be16(4))
        #expect(Self.build6(cut).isEmpty)
    }

    @Test("random valid packets: every error built is well formed and quotes the original's prefix")
    func randomOriginals() {
        var g = SeededGenerator(seed: 0x1C3B)
        var built = (v4: 0, v6: 0)
        for _ in 0..<2000 {
            let p = PacketFactory.random(using: &g, maxPayload: 1600)
            if p.version == 4 {
                let e = Self.build4(p.bytes)
                guard !e.isEmpty else { continue }
                built.v4 += 1
                let q = Self.checkIPv4Error(e, about: p.bytes, type: 3, code: 0)
                #expect(q == Array(p.bytes[0..<min(p.bytes.count, 548)]))
            } else {
                let e = Self.build6(p.bytes)
                guard !e.isEmpty else { continue }
                built.v6 += 1
                let q = Self.checkIPv6Error(e, about: p.bytes, type: 1, code: 0)
                #expect(q == Array(p.bytes[0..<min(p.bytes.count, 1232)]))
            }
        }
        #expect(built.v4 > 500 && built.v6 > 500)
    }

    @Test func constants() {
        #expect(ICMPError.maximumIPv4Length == 576)
        #expect(ICMPError.maximumIPv6Length == 1280)
        #expect(ICMPMessage.headerLength == 8)
        #expect(withBytes([1, 2, 3]) { b in wireError { () throws(WireError) in try ICMPMessage(b) } } == .truncated)
    }
}
