import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("Encapsulator")
struct EncapsulatorTests {
    static let localMAC = MACAddress(0x0242_0af4_0100)
    static let peerMAC = MACAddress(0x0242_0af4_0200)

    @Test("vxlan writes VXLAN + Ethernet (22 bytes) right in front of the packet and nothing else")
    func constructVXLAN() throws {
        for (packet, etherType) in [(KnownPackets.ipv4UDP, [UInt8](arrayLiteral: 0x08, 0x00)),
                                    (KnownPackets.ipv6UDP, [UInt8](arrayLiteral: 0x86, 0xdd))] {
            var buf = [UInt8](repeating: 0xee, count: 64) + packet + [0xcc]
            let e = Encapsulator(format: .vxlan, vni: 42, localMAC: Self.localMAC)
            let start = try buf.withUnsafeMutableBytes { b in
                try e.encapsulate(b, innerOffset: 64, innerLength: packet.count, innerVersion: packet[0] >> 4,
                                  peerMAC: Self.peerMAC)
            }
            #expect(start == 42)
            let expected: [UInt8] = [0x08, 0, 0, 0, 0, 0, 0x2a, 0,
                                     0x02, 0x42, 0x0a, 0xf4, 0x02, 0x00, 0x02, 0x42, 0x0a, 0xf4, 0x01, 0x00] + etherType
            #expect(Array(buf[42..<64]) == expected)
            #expect(Array(buf[0..<42]) == [UInt8](repeating: 0xee, count: 42))
            #expect(Array(buf[64...]) == packet + [0xcc], "the inner packet is neither moved nor changed")
        }
    }

    @Test("udp format: the payload is the inner packet itself, no headroom needed")
    func constructUDP() throws {
        var buf = KnownPackets.ipv4UDP
        let start = try buf.withUnsafeMutableBytes { b in
            try Encapsulator(format: .udp).encapsulate(b, innerOffset: 0, innerLength: b.count, innerVersion: 4,
                                                       peerMAC: Self.peerMAC)
        }
        #expect(start == 0)
        #expect(buf == KnownPackets.ipv4UDP)
    }

    @Test("bad ranges are refused without trapping, even with extreme arguments")
    func refusals() {
        var buf = [UInt8](repeating: 0, count: 100)
        func reason(_ f: EncapsulationFormat, _ offset: Int, _ length: Int) -> WireError? {
            buf.withUnsafeMutableBytes { b in
                wireError { () throws(WireError) in
                    try Encapsulator(format: f).encapsulate(b, innerOffset: offset, innerLength: length, innerVersion: 4,
                                                            peerMAC: Self.peerMAC)
                }
            }
        }
        for f in EncapsulationFormat.allCases {
            #expect(reason(f, -1, 10) == .bufferTooSmall)
            #expect(reason(f, 10, -1) == .bufferTooSmall)
            #expect(reason(f, 50, 51) == .bufferTooSmall)
            #expect(reason(f, 101, 0) == .bufferTooSmall)
            #expect(reason(f, Int.max, Int.max) == .bufferTooSmall)
            #expect(reason(f, 30, Int.max) == .bufferTooSmall)
            #expect(reason(f, Int.min, 0) == .bufferTooSmall)
            #expect(reason(f, 30, 70) == nil)
        }
        #expect(reason(.vxlan, 21, 10) == .headroomTooSmall)
        #expect(reason(.vxlan, 22, 10) == nil)
        #expect(reason(.udp, 0, 10) == nil)
        let none = wireError { () throws(WireError) in
            try Encapsulator(format: .udp).encapsulate(UnsafeMutableRawBufferPointer(start: nil, count: 0), innerOffset: 0,
                                                       innerLength: 0, innerVersion: 4, peerMAC: Self.peerMAC)
        }
        #expect(none == .bufferTooSmall)
    }

    @Test("source ports stay in the range, whatever the hash", arguments: [
        49152...65535, 0...65535, 8472...8472, 1000...1001, 32768...60999,
    ] as [ClosedRange<UInt16>])
    func sourcePortRange(_ range: ClosedRange<UInt16>) {
        let e = Encapsulator(format: .vxlan, sourcePorts: range)
        var g = SeededGenerator(seed: UInt64(range.lowerBound) << 16 | UInt64(range.upperBound))
        var seen = Set<UInt16>()
        for h in [0, 1, UInt32.max, UInt32.max - 1, 0x8000_0000] + (0..<5000).map({ _ in UInt32.random(in: 0...UInt32.max, using: &g) }) {
            let p = e.sourcePort(flowHash: h)
            #expect(range.contains(p), "hash \(h) gave \(p)")
            seen.insert(p)
        }
        // Hashes spread over the range (up to its size).
        #expect(seen.count >= min(range.count, 3000))
    }

    @Test("one flow keeps one source port; the port follows the flow hash")
    func sourcePortPerFlow() throws {
        let e = Encapsulator(format: .vxlan)
        let a = try withBytes(KnownPackets.ipv4TCP) { b throws(WireError) in try IPPacketInfo(parsing: b) }
        #expect(e.sourcePort(flowHash: a.flowHash) == e.sourcePort(flowHash: a.flowHash))
        #expect(e.sourcePort(flowHash: 0) == 49152)
        #expect(e.sourcePort(flowHash: 16383) == 65535)
        #expect(e.sourcePort(flowHash: 16384) == 49152)
    }

    /// decapsulate(encapsulate(p)) finds exactly p: offset, length, bytes and parsed fields.
    static func roundTrip(format: EncapsulationFormat, seed: UInt64, count: Int) throws {
        var g = SeededGenerator(seed: seed)
        for i in 0..<count {
            let p = PacketFactory.random(using: &g, maxPayload: g.chance(0.05) ? 9000 : 1400)
            let vni = UInt32.random(in: 0...0xff_ffff, using: &g)
            let sender = MACAddress.randomLocal(using: &g)
            let receiver = MACAddress.randomLocal(using: &g)
            let headroom = format.headerLength + Int.random(in: 0...42, using: &g)
            let tail = Int.random(in: 0...16, using: &g)
            var buf = g.bytes(headroom) + p.bytes + g.bytes(tail)
            let enc = Encapsulator(format: format, vni: vni, localMAC: sender)
            let dec = Decapsulator(format: format, vni: vni, localMAC: receiver)
            let result = try buf.withUnsafeMutableBytes { b in
                let start = try enc.encapsulate(b, innerOffset: headroom, innerLength: p.bytes.count,
                                                innerVersion: p.version, peerMAC: receiver)
                #expect(start == headroom - format.headerLength)
                // The UDP payload runs from `start` to the end of the inner packet.
                let payload = UnsafeMutableRawBufferPointer(rebasing: b[start..<(headroom + p.bytes.count)])
                let d = try dec.decapsulate(payload)
                return (d, Array(payload[d.offset..<(d.offset + d.length)]))
            }
            #expect(result.0.offset == format.headerLength, "packet \(i)")
            #expect(result.0.length == p.bytes.count, "packet \(i)")
            #expect(result.0.info == p.expected, "packet \(i): \(p.bytes)")
            #expect(result.1 == p.bytes, "packet \(i)")
        }
    }

    @Test("round trip, udp format: 6000 random IPv4 and IPv6 packets")
    func roundTripUDP() throws {
        try Self.roundTrip(format: .udp, seed: 0x0DD, count: 6000)
    }

    @Test("round trip, vxlan format: 6000 random IPv4 and IPv6 packets")
    func roundTripVXLAN() throws {
        try Self.roundTrip(format: .vxlan, seed: 0x7E1, count: 6000)
    }
}
