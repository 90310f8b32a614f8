import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("IPPacketInfo")
struct IPPacketInfoTests {
    static func parse(_ b: [UInt8]) throws(WireError) -> IPPacketInfo {
        try withBytes(b) { x throws(WireError) in try IPPacketInfo(parsing: x) }
    }

    @Test("known packets: version, addresses, length, protocol and ports")
    func known() throws {
        let u4 = try Self.parse(KnownPackets.ipv4UDP)
        #expect(u4.version == 4)
        #expect(u4.source == .v4(KnownPackets.v4Source))
        #expect(u4.destination == .v4(KnownPackets.v4Destination))
        #expect(u4.length == 34)
        #expect(u4.proto == IPProtocol.udp)
        #expect((u4.sourcePort, u4.destinationPort) == (40000, 53))
        let t4 = try Self.parse(KnownPackets.ipv4TCP)
        #expect((t4.proto, t4.sourcePort, t4.destinationPort, t4.length) == (IPProtocol.tcp, 51000, 80, 44))
        let u6 = try Self.parse(KnownPackets.ipv6UDP)
        #expect(u6.version == 6)
        #expect(u6.source == .v6(KnownPackets.v6Source))
        #expect(u6.destination == .v6(KnownPackets.v6Destination))
        #expect((u6.proto, u6.sourcePort, u6.destinationPort, u6.length) == (IPProtocol.udp, 40000, 53, 54))
        let t6 = try Self.parse(KnownPackets.ipv6TCP)
        #expect((t6.proto, t6.sourcePort, t6.destinationPort, t6.length) == (IPProtocol.tcp, 51000, 443, 62))
    }

    @Test("link padding after the packet does not change its length")
    func padding() throws {
        #expect(try Self.parse(KnownPackets.ipv4UDP + [0, 0, 0]).length == 34)
        #expect(try Self.parse(KnownPackets.ipv6UDP + [0]).length == 54)
    }

    @Test("no ports from fragments, short transports or port-less protocols")
    func noPorts() throws {
        var frag = KnownPackets.ipv4UDP
        frag[6] = 0x20 // MF: a first fragment's ports are not used either, so all fragments hash alike
        frag[7] = 0
        let f = try Self.parse(frag)
        #expect((f.sourcePort, f.destinationPort) == (0, 0))
        var icmp = KnownPackets.ipv4UDP
        icmp[9] = IPProtocol.icmp
        #expect(try Self.parse(icmp).sourcePort == 0)
        var short = Array(KnownPackets.ipv4UDP[0..<23])
        short[3] = 23
        let s = try Self.parse(short)
        #expect((s.proto, s.sourcePort, s.destinationPort) == (IPProtocol.udp, 0, 0))
        short = Array(KnownPackets.ipv4UDP[0..<24])
        short[3] = 24
        #expect(try Self.parse(short).destinationPort == 53, "four bytes are enough for the ports")
    }

    @Test("all fragments of one datagram hash alike, in both versions; an atomic IPv6 fragment is whole")
    func fragmentsHashAlike() throws {
        // IPv4: first, middle and last fragment of one UDP datagram.
        var hashes4 = Set<UInt32>()
        for frag: UInt16 in [0x2000, 0x2000 | 185, 370] {
            var b = KnownPackets.ipv4UDP
            b.replaceSubrange(6..<8, with: be16(frag))
            b[10] = 0
            b[11] = 0
            let c = referenceChecksum(b[0..<20])
            b.replaceSubrange(10..<12, with: be16(c))
            let info = try Self.parse(b)
            #expect((info.proto, info.sourcePort, info.destinationPort) == (IPProtocol.udp, 0, 0))
            hashes4.insert(info.flowHash)
        }
        #expect(hashes4.count == 1)
        // IPv6: the same, with the fragment header behind a hop-by-hop header.
        var hashes6 = Set<UInt32>()
        for offsetAndFlags: UInt16 in [0x0001, 185 << 3 | 1, 370 << 3] {
            let ext: [UInt8] = [IPProtocol.fragment, 0, 1, 4, 0, 0, 0, 0] + [IPProtocol.udp, 0] + be16(offsetAndFlags)
                + [0, 0, 0, 42]
            var b = Array(KnownPackets.ipv6UDP[0..<40]) + ext + Array(KnownPackets.ipv6UDP[40...])
            b[6] = IPProtocol.hopByHop
            b.replaceSubrange(4..<6, with: be16(UInt16(b.count - 40)))
            let info = try Self.parse(b)
            #expect((info.proto, info.sourcePort, info.destinationPort) == (IPProtocol.noNextHeader, 0, 0))
            hashes6.insert(info.flowHash)
        }
        #expect(hashes6.count == 1)
        // Offset 0 and MF clear (RFC 6946 atomic fragment): the transport is read as usual.
        let atomicExt: [UInt8] = [IPProtocol.udp, 0, 0, 0, 0, 0, 0, 42]
        var atomic = Array(KnownPackets.ipv6UDP[0..<40]) + atomicExt + Array(KnownPackets.ipv6UDP[40...])
        atomic[6] = IPProtocol.fragment
        atomic.replaceSubrange(4..<6, with: be16(UInt16(atomic.count - 40)))
        let whole = try Self.parse(atomic)
        #expect((whole.proto, whole.sourcePort, whole.destinationPort) == (IPProtocol.udp, 40000, 53))
    }

    @Test("refusals carry the parser's reason")
    func refusals() {
        func reason(_ b: [UInt8]) -> WireError? { wireError { () throws(WireError) in try Self.parse(b) } }
        #expect(reason([]) == .truncated)
        #expect(reason([0x45]) == .truncated)
        #expect(reason([0x60]) == .truncated)
        #expect(reason([0x50] + [UInt8](repeating: 0, count: 40)) == .notIP)
        #expect(reason([0x00]) == .notIP)
        #expect(reason(Array(KnownPackets.ipv4UDP[0..<30])) == .ipv4TotalLength)
        #expect(reason(Array(KnownPackets.ipv6UDP[0..<50])) == .ipv6PayloadLength)
        var badChain = KnownPackets.ipv6UDP
        badChain[6] = IPProtocol.hopByHop
        badChain[41] = 200 // hop-by-hop length past the payload
        #expect(reason(badChain) == .ipv6ExtensionHeaders)
        #expect(wireError { () throws(WireError) in try IPPacketInfo(parsing: UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
            == .truncated)
    }

    @Test("random valid packets parse to exactly what was generated")
    func randomPackets() throws {
        var g = SeededGenerator(seed: 0x1F0)
        for i in 0..<5000 {
            let p = PacketFactory.random(using: &g, maxPayload: 300)
            let info = try Self.parse(p.bytes)
            #expect(info == p.expected, "packet \(i): \(p.bytes)")
        }
    }

    @Test("the flow hash is stable for a flow: payload, length, TTL and IDs do not change it")
    func flowHashStable() throws {
        var g = SeededGenerator(seed: 0xF10)
        for _ in 0..<500 {
            let a = PacketFactory.random(using: &g, maxPayload: 200)
            var b = a.expected
            b.length += Int.random(in: 1...100, using: &g)
            #expect(a.expected.flowHash == b.flowHash)
            #expect(a.expected.flowHash == (try Self.parse(a.bytes)).flowHash, "same bytes, same hash")
        }
        // Two packets of one TCP flow, different in everything but the 5-tuple.
        var second = KnownPackets.ipv4TCP + [1, 2, 3]
        second[3] = 47
        second[4] = 0x99
        second[8] = 3
        second[10] = 0
        second[11] = 0
        let c = referenceChecksum(second[0..<20])
        second[10] = UInt8(c >> 8)
        second[11] = UInt8(c & 0xff)
        #expect(try Self.parse(KnownPackets.ipv4TCP).flowHash == Self.parse(second).flowHash)
    }

    @Test("the flow hash differs across flows: any one field changed, and thousands of random flows")
    func flowHashSpreads() throws {
        let base = try Self.parse(KnownPackets.ipv4UDP)
        var variants: [IPPacketInfo] = []
        var v = base
        v.source = .v4(IPv4Address(10, 244, 1, 3)); variants.append(v); v = base
        v.destination = .v4(IPv4Address(10, 244, 2, 4)); variants.append(v); v = base
        v.sourcePort += 1; variants.append(v); v = base
        v.destinationPort += 1; variants.append(v); v = base
        v.proto = IPProtocol.tcp; variants.append(v); v = base
        (v.source, v.destination) = (v.destination, v.source); variants.append(v); v = base
        (v.sourcePort, v.destinationPort) = (v.destinationPort, v.sourcePort); variants.append(v)
        let hashes = Set([base.flowHash] + variants.map(\.flowHash))
        #expect(hashes.count == variants.count + 1)

        var g = SeededGenerator(seed: 0xF1F1)
        var seen: [UInt32: Int] = [:]
        var flows = Set<[UInt8]>()
        for _ in 0..<20000 {
            let p = PacketFactory.random(using: &g, maxPayload: 8)
            let e = p.expected
            var key = Array("\(e.source) \(e.destination)".utf8)
            key += [e.proto] + be16(e.sourcePort) + be16(e.destinationPort)
            guard flows.insert(key).inserted else { continue }
            seen[e.flowHash, default: 0] += 1
        }
        // 20 000 flows in 2^32 values: a collision is a 5% event, two are a bug.
        #expect(seen.count >= flows.count - 1)
        // Every output bit moves: the low 16 bits (which pick the port) are spread too.
        let low = Set(seen.keys.map { $0 & 0xff })
        #expect(low.count == 256)
    }
}
