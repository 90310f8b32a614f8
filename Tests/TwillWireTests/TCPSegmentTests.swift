import Testing
@testable import TwillWire

@Suite("TCPSegment")
struct TCPSegmentTests {
    /// The TCP part of the known IPv4 SYN: 51000 -> 80, seq 0x01020304, MSS option 1460.
    static let segment = Array(KnownPackets.ipv4TCP[20...])

    @Test func deconstruct() throws {
        try withBytes(Self.segment) { b throws(WireError) in
            let t = try TCPSegment(b)
            #expect(t.sourcePort == 51000)
            #expect(t.destinationPort == 80)
            #expect(t.sequenceNumber == 0x0102_0304)
            #expect(t.acknowledgmentNumber == 0)
            #expect(t.headerLength == 24)
            #expect(t.flags == TCPFlags.syn)
            #expect(t.window == 0xffff)
            #expect(t.checksum == 0xb3ab)
            #expect(t.urgentPointer == 0)
            #expect(Array(t.options) == [0x02, 0x04, 0x05, 0xb4])
            #expect(t.payload.count == 0)
        }
    }

    @Test func construct() throws {
        var out = [UInt8](repeating: 0, count: 24)
        out[12] = 0x60 // data offset is not a setter: it comes with the header layout
        try out.withUnsafeMutableBytes { b in
            let t = try TCPSegment(b)
            t.sourcePort = 51000
            t.destinationPort = 80
            t.sequenceNumber = 0x0102_0304
            t.acknowledgmentNumber = 0
            t.flags = TCPFlags.syn
            t.window = 0xffff
            t.checksum = 0xb3ab
            t.urgentPointer = 0
            t.options.copyBytes(from: [0x02, 0x04, 0x05, 0xb4])
        }
        #expect(out == Self.segment)
    }

    @Test("the IPv6 known segment: ACK number, PSH|ACK and a payload")
    func ipv6Segment() throws {
        try withBytes(Array(KnownPackets.ipv6TCP[40...])) { b throws(WireError) in
            let t = try TCPSegment(b)
            #expect(t.acknowledgmentNumber == 0x0a0b_0c0d)
            #expect(t.flags == TCPFlags.psh | TCPFlags.ack)
            #expect(t.options.count == 0)
            #expect(Array(t.payload) == Array("hi".utf8))
        }
    }

    @Test("data offset below 5 or past the bytes is refused")
    func refusals() {
        func reason(_ b: [UInt8]) -> WireError? { withBytes(b) { x in wireError { () throws(WireError) in try TCPSegment(x) } } }
        #expect(reason(Array(Self.segment[0..<19])) == .truncated)
        #expect(reason(Array(Self.segment[0..<23])) == .tcpHeaderLength)
        var b = Self.segment
        b[12] = 0x40
        #expect(reason(b) == .tcpHeaderLength)
        b[12] = 0xf0
        #expect(reason(b) == .tcpHeaderLength)
        b[12] = 0x50
        #expect(reason(b) == nil)
    }

    @Test func flags() {
        #expect([TCPFlags.fin, TCPFlags.syn, TCPFlags.rst, TCPFlags.psh, TCPFlags.ack, TCPFlags.urg, TCPFlags.ece,
                 TCPFlags.cwr] == [1, 2, 4, 8, 16, 32, 64, 128])
    }
}
