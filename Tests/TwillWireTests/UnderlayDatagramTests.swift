import Testing
@testable import TwillWire

@Suite("UnderlayDatagram")
struct UnderlayDatagramTests {
    static let payload: [UInt8] = Array("underlay payload".utf8)

    /// 192.0.2.1:40001 -> 192.0.2.2:8472, DF, TTL 64, ID 0, header checksum 0xb6bd (computed apart
    /// from TwillWire, and checked below with the reference sum), UDP checksum 0, then `payload`.
    static let ipv4Datagram: [UInt8] = [
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb6, 0xbd, 0xc0, 0x00, 0x02, 0x01,
        0xc0, 0x00, 0x02, 0x02,
        0x9c, 0x41, 0x21, 0x18, 0x00, 0x18, 0x00, 0x00,
    ] + payload

    @Test func parseIPv4() throws {
        #expect(referenceSum(Self.ipv4Datagram[0..<20]) == 0xffff, "the literal's own header checksum")
        let d = try withBytes(Self.ipv4Datagram + [0, 0]) { b throws(WireError) in try UnderlayDatagram(parsing: b) }
        #expect(d.source == .v4(IPv4Address(192, 0, 2, 1)))
        #expect(d.destination == .v4(IPv4Address(192, 0, 2, 2)))
        #expect(d.sourcePort == 40001)
        #expect(d.destinationPort == 8472)
        #expect(d.payloadOffset == 28)
        #expect(d.payloadLength == Self.payload.count)
    }

    @Test("emitIPv4 writes exactly the literal datagram in the headroom")
    func emitIPv4() throws {
        var buf = [UInt8](repeating: 0xee, count: 64) + Self.payload
        let start = try buf.withUnsafeMutableBytes { b in
            try UnderlayDatagram.emitIPv4(into: b, payloadOffset: 64, payloadLength: Self.payload.count,
                                          source: IPv4Address(192, 0, 2, 1), destination: IPv4Address(192, 0, 2, 2),
                                          sourcePort: 40001, destinationPort: 8472)
        }
        #expect(start == 36)
        #expect(Array(buf[start...]) == Self.ipv4Datagram)
        #expect(Array(buf[0..<36]) == [UInt8](repeating: 0xee, count: 36), "nothing in front is touched")
    }

    @Test("emitIPv4 refuses short headroom and bad lengths without trapping")
    func emitRefusals() {
        var buf = [UInt8](repeating: 0, count: 100)
        func reason(_ offset: Int, _ length: Int) -> WireError? {
            buf.withUnsafeMutableBytes { b in
                wireError { () throws(WireError) in
                    try UnderlayDatagram.emitIPv4(into: b, payloadOffset: offset, payloadLength: length,
                                                  source: IPv4Address(1), destination: IPv4Address(2), sourcePort: 1,
                                                  destinationPort: 2)
                }
            }
        }
        #expect(reason(27, 10) == .headroomTooSmall)
        #expect(reason(28, 72) == nil)
        #expect(reason(28, 73) == .bufferTooSmall)
        #expect(reason(28, -1) == .bufferTooSmall)
        #expect(reason(101, 0) == .bufferTooSmall)
        #expect(reason(Int.min, 0) == .headroomTooSmall)
        #expect(reason(Int.max, Int.max) == .bufferTooSmall)
        #expect(reason(50, Int.max) == .bufferTooSmall)
    }

    @Test("IPv6 underlay: addresses, and the UDP header found behind extension headers")
    func parseIPv6() throws {
        let udp: [UInt8] = be16(40001) + be16(8472) + be16(UInt16(8 + Self.payload.count)) + [0, 0] + Self.payload
        let dstOpts: [UInt8] = [IPProtocol.udp, 0, 1, 4, 0, 0, 0, 0]
        var b = be32(0x6000_0000) + be16(UInt16(dstOpts.count + udp.count)) + [IPProtocol.destinationOptions, 64]
        b += be64(0x2001_0db8_0000_0000) + be64(1) + be64(0x2001_0db8_0000_0000) + be64(2)
        b += dstOpts + udp
        let d = try withBytes(b) { x throws(WireError) in try UnderlayDatagram(parsing: x) }
        #expect(d.source == .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)))
        #expect(d.destination == .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 2)))
        #expect((d.sourcePort, d.destinationPort) == (40001, 8472))
        #expect(d.payloadOffset == 56)
        #expect(d.payloadLength == Self.payload.count)
        #expect(Array(b[d.payloadOffset..<(d.payloadOffset + d.payloadLength)]) == Self.payload)
    }

    @Test("refusals: not IP, not UDP, fragments, and UDP lengths that disagree with the IP length")
    func refusals() {
        func reason(_ b: [UInt8]) -> WireError? { withBytes(b) { x in wireError { () throws(WireError) in try UnderlayDatagram(parsing: x) } } }
        var b = Self.ipv4Datagram
        #expect(reason([]) == .truncated)
        #expect(reason([0x75]) == .notIP)
        #expect(reason(Array(b[0..<19])) == .truncated)
        #expect(reason(Array(b[0..<40])) == .ipv4TotalLength)
        b[9] = IPProtocol.tcp
        #expect(reason(b) == .notUDP)
        b[9] = IPProtocol.udp
        b[6] = 0x20
        #expect(reason(b) == .notUDP, "a fragment")
        b[6] = 0x40
        b[25] = 0x19
        #expect(reason(b) == .udpLength, "UDP length past the IP total length")
        b[25] = 7
        #expect(reason(b) == .udpLength)
        // The IP total length bounds the UDP header, whatever lies after it.
        var short = Array(Self.ipv4Datagram[0..<24])
        short[2] = 0
        short[3] = 24
        #expect(reason(short + [0, 0, 0, 0]) == .truncated)
        #expect(reason(KnownPackets.ipv6TCP) == .notUDP)
        var frag6 = KnownPackets.ipv6UDP
        frag6.insert(contentsOf: [IPProtocol.udp, 0, 0, 8, 0, 0, 0, 1], at: 40) // a later fragment
        frag6[6] = IPProtocol.fragment
        frag6.replaceSubrange(4..<6, with: be16(22))
        #expect(reason(frag6) == .notUDP)
    }
}
