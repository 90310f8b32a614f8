import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("MACAddress")
struct MACAddressTests {
    @Test func parseAndPrint() {
        let m = MACAddress("02:42:0A:f4:02:00")
        #expect(m == MACAddress(0x0242_0af4_0200))
        #expect(m?.description == "02:42:0a:f4:02:00")
        #expect(MACAddress((0x02, 0x42, 0x0a, 0xf4, 0x02, 0x00)) == m)
        #expect(MACAddress.broadcast.description == "ff:ff:ff:ff:ff:ff")
        #expect(MACAddress(0x1_0000_0000_0001).value == 1, "bits above 48 are dropped")
    }

    @Test("malformed text is refused, signs included", arguments: [
        "", "02:42:0a:f4:02", "02:42:0a:f4:02:00:00", "2:42:0a:f4:02:00", "02:42:0a:f4:02:0g", "02-42-0a-f4-02-00",
        "02:42:0a:f4:02:+f", "02:42:0a:f4:02:-0", "02:42:0a:f4:02:", "::::::",
    ])
    func refused(_ text: String) {
        #expect(MACAddress(text) == nil)
    }

    @Test func multicastAndRandomLocal() {
        #expect(MACAddress.broadcast.isMulticast)
        #expect(MACAddress("01:00:5e:00:00:01")!.isMulticast)
        #expect(!MACAddress("02:42:0a:f4:02:00")!.isMulticast)
        var g = SeededGenerator(seed: 42)
        for _ in 0..<1000 {
            let m = MACAddress.randomLocal(using: &g)
            #expect(!m.isMulticast)
            #expect((m.value >> 40) & 0x02 == 0x02, "locally administered")
        }
    }

    @Test("load and store are network order at any offset")
    func loadStore() {
        var bytes = [UInt8](repeating: 0, count: 9)
        bytes.withUnsafeMutableBytes { MACAddress(0x0102_0304_0506).store(to: $0.baseAddress!, at: 3) }
        #expect(bytes == [0, 0, 0, 1, 2, 3, 4, 5, 6])
        let back = bytes.withUnsafeBytes { MACAddress.load(from: $0.baseAddress!, at: 3) }
        #expect(back == MACAddress(0x0102_0304_0506))
    }
}
