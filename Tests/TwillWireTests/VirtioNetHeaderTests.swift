import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("VirtioNetHeader")
struct VirtioNetHeaderTests {
    // NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16, in host (little-endian) order.
    static let bytes: [UInt8] = [0x01, 0x01, 0x36, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00]
    static let repr = VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum, gsoType: VirtioNetHeader.gsoTCPv4,
                                      headerLength: 54, gsoSize: 1448, checksumStart: 34, checksumOffset: 16)

    @Test func parse() throws {
        #if _endian(little)
        let h = try Self.bytes.withUnsafeBytes { b throws(WireError) in try VirtioNetHeader(parsing: b) }
        #expect(h == Self.repr)
        #endif
    }

    @Test func emit() throws {
        #if _endian(little)
        var out = [UInt8](repeating: 0xee, count: 12)
        try out.withUnsafeMutableBytes { b in try Self.repr.emit(into: b) }
        #expect(Array(out[0..<10]) == Self.bytes)
        #expect(Array(out[10...]) == [0xee, 0xee])
        #endif
    }

    @Test("random headers round trip, whatever the byte order")
    func roundTrip() throws {
        var g = SeededGenerator(seed: 0x7171)
        for _ in 0..<500 {
            let h = VirtioNetHeader(flags: .random(in: 0...255, using: &g), gsoType: .random(in: 0...255, using: &g),
                                    headerLength: .random(in: 0...65535, using: &g), gsoSize: .random(in: 0...65535, using: &g),
                                    checksumStart: .random(in: 0...65535, using: &g),
                                    checksumOffset: .random(in: 0...65535, using: &g))
            var out = [UInt8](repeating: 0, count: 10)
            try out.withUnsafeMutableBytes { b in try h.emit(into: b) }
            let back = try out.withUnsafeBytes { b throws(WireError) in try VirtioNetHeader(parsing: b) }
            #expect(back == h)
        }
    }

    @Test func shortBuffers() {
        let nine = [UInt8](repeating: 0, count: 9)
        #expect(nine.withUnsafeBytes { b in wireError { () throws(WireError) in try VirtioNetHeader(parsing: b) } } == .truncated)
        var out = nine
        #expect(out.withUnsafeMutableBytes { b in wireError { () throws(WireError) in try Self.repr.emit(into: b) } } == .bufferTooSmall)
    }

    @Test("constants are the kernel's")
    func constants() {
        #expect(VirtioNetHeader.length == 10)
        #expect(VirtioNetHeader.flagNeedsChecksum == 1)
        #expect(VirtioNetHeader.flagDataValid == 2)
        #expect([VirtioNetHeader.gsoNone, VirtioNetHeader.gsoTCPv4, VirtioNetHeader.gsoUDP, VirtioNetHeader.gsoTCPv6,
                 VirtioNetHeader.gsoUDPL4, VirtioNetHeader.gsoECN] == [0, 1, 3, 4, 5, 0x80])
    }
}
