import Testing
@testable import TwillWire

@Suite("UDPDatagram")
struct UDPDatagramTests {
    /// The UDP part of the known IPv4 packet: 40000 -> 53, length 14, checksum 0x006b, "twill!".
    static let datagram = Array(KnownPackets.ipv4UDP[20...])
    static let repr = UDPRepr(sourcePort: 40000, destinationPort: 53, payloadLength: 6)

    @Test func deconstruct() throws {
        try withBytes(Self.datagram) { b throws(WireError) in
            let d = try UDPDatagram(b)
            #expect(d.sourcePort == 40000)
            #expect(d.destinationPort == 53)
            #expect(d.length == 14)
            #expect(d.checksum == 0x006b)
            #expect(Array(d.payload) == Array("twill!".utf8))
        }
    }

    @Test func construct() throws {
        var out = [UInt8](repeating: 0xee, count: 14)
        try out.withUnsafeMutableBytes { b in
            let d = try UDPDatagram(uncheckedForEmit: b)
            d.sourcePort = 40000
            d.destinationPort = 53
            d.length = 14
            d.checksum = 0x006b
            d.payload.copyBytes(from: Array("twill!".utf8))
        }
        #expect(out == Self.datagram)
    }

    @Test func parse() throws {
        let r = try withBytes(Self.datagram) { b throws(WireError) in UDPRepr(parsing: try UDPDatagram(b)) }
        #expect(r == Self.repr)
    }

    @Test func emit() throws {
        var out = Self.datagram
        out.replaceSubrange(0..<8, with: [UInt8](repeating: 0xee, count: 8))
        try out.withUnsafeMutableBytes { b in try Self.repr.emit(into: b, checksum: 0x006b) }
        #expect(out == Self.datagram)
        var big = Self.repr
        big.payloadLength = 65528
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try big.emit(into: b) } } == .udpLength)
        big.payloadLength = -9
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try big.emit(into: b) } } == .udpLength)
        big.payloadLength = 65527
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try big.emit(into: b) } } == nil)
        var seven = [UInt8](repeating: 0, count: 7)
        #expect(seven.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try Self.repr.emit(into: b) } }
            == .bufferTooSmall)
        #expect(seven.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try UDPDatagram(uncheckedForEmit: b) } }
            == .bufferTooSmall)
    }

    @Test("the length field is checked against the bytes; trailing bytes are not payload")
    func lengthField() throws {
        func reason(_ b: [UInt8]) -> WireError? { withBytes(b) { x in wireError { () throws(WireError) in try UDPDatagram(x) } } }
        #expect(reason(Array(Self.datagram[0..<7])) == .truncated)
        #expect(reason(Array(Self.datagram[0..<13])) == .udpLength)
        var b = Self.datagram
        b[5] = 7
        #expect(reason(b) == .udpLength, "below the header")
        b[5] = 0
        #expect(reason(b) == .udpLength, "0: jumbogram length, not carried")
        b[5] = 8
        let empty = try withBytes(b) { x throws(WireError) in try UDPDatagram(x).payload.count }
        #expect(empty == 0)
    }
}
