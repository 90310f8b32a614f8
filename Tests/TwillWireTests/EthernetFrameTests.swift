import Testing
@testable import TwillWire

@Suite("EthernetFrame")
struct EthernetFrameTests {
    // dst 02:42:0a:f4:02:00, src 02:42:0a:f4:01:00, IPv4, then four payload bytes.
    static let frame: [UInt8] = [
        0x02, 0x42, 0x0a, 0xf4, 0x02, 0x00, 0x02, 0x42, 0x0a, 0xf4, 0x01, 0x00, 0x08, 0x00,
        0xaa, 0xbb, 0xcc, 0xdd,
    ]
    static let repr = EthernetRepr(destination: MACAddress(0x0242_0af4_0200), source: MACAddress(0x0242_0af4_0100),
                                   etherType: EtherType.ipv4)

    @Test func deconstruct() throws {
        try withBytes(Self.frame) { b throws(WireError) in
            let f = try EthernetFrame(b)
            #expect(f.destination == MACAddress(0x0242_0af4_0200))
            #expect(f.source == MACAddress(0x0242_0af4_0100))
            #expect(f.etherType == EtherType.ipv4)
            #expect(Array(f.payload) == [0xaa, 0xbb, 0xcc, 0xdd])
        }
    }

    @Test func construct() throws {
        var out = [UInt8](repeating: 0xee, count: Self.frame.count)
        try out.withUnsafeMutableBytes { b in
            let f = try EthernetFrame(b)
            f.destination = MACAddress(0x0242_0af4_0200)
            f.source = MACAddress(0x0242_0af4_0100)
            f.etherType = EtherType.ipv4
            f.payload.copyBytes(from: [0xaa, 0xbb, 0xcc, 0xdd])
        }
        #expect(out == Self.frame)
    }

    @Test func parse() throws {
        let r = try withBytes(Self.frame) { b throws(WireError) in EthernetRepr(parsing: try EthernetFrame(b)) }
        #expect(r == Self.repr)
    }

    @Test func emit() throws {
        var out = [UInt8](repeating: 0, count: EthernetFrame.headerLength)
        try out.withUnsafeMutableBytes { b in Self.repr.emit(into: try EthernetFrame(b)) }
        #expect(out == Array(Self.frame[0..<14]))
    }

    @Test("fewer than 14 bytes are refused as truncated; 14 give an empty payload")
    func truncated() throws {
        for n in 0..<14 {
            #expect(withBytes(Array(Self.frame[0..<n])) { b in wireError { () throws(WireError) in try EthernetFrame(b) } } == .truncated)
        }
        #expect(wireError { () throws(WireError) in try EthernetFrame(UnsafeMutableRawBufferPointer(start: nil, count: 0)) } == .truncated)
        let count = try withBytes(Array(Self.frame[0..<14])) { b throws(WireError) in try EthernetFrame(b).payload.count }
        #expect(count == 0)
    }

    @Test func etherTypes() {
        #expect(EtherType.ipv4 == 0x0800)
        #expect(EtherType.ipv6 == 0x86dd)
        #expect(EtherType.arp == 0x0806)
    }
}
