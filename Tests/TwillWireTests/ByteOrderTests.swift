import Testing
@testable import TwillWire

@Suite("ByteOrder")
struct ByteOrderTests {
    @Test("loads read network order at unaligned offsets")
    func loads() {
        let bytes: [UInt8] = [0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]
        bytes.withUnsafeBytes { b in
            let p = b.baseAddress!
            #expect(load8(p, 1) == 0x01)
            #expect(load16(p, 1) == 0x0102)
            #expect(load32(p, 1) == 0x0102_0304)
            #expect(load64(p, 1) == 0x0102_0304_0506_0708)
        }
    }

    @Test("stores write network order at unaligned offsets")
    func stores() {
        var bytes = [UInt8](repeating: 0, count: 9)
        bytes.withUnsafeMutableBytes { b in store64(b.baseAddress!, 1, 0x0102_0304_0506_0708) }
        #expect(bytes == [0, 1, 2, 3, 4, 5, 6, 7, 8])
        bytes.withUnsafeMutableBytes { b in
            store32(b.baseAddress!, 3, 0xa1a2_a3a4)
            store16(b.baseAddress!, 1, 0xb1b2)
            store8(b.baseAddress!, 8, 0xc1)
        }
        #expect(bytes == [0, 0xb1, 0xb2, 0xa1, 0xa2, 0xa3, 0xa4, 7, 0xc1])
    }
}
