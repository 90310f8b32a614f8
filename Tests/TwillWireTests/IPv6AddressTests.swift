import TwillTestSupport
import Testing
import TwillWire

@Suite("IPv6Address")
struct IPv6AddressTests {
    @Test("RFC 4291 text parses, RFC 5952 text prints", arguments: [
        ("::", "::", 0, 0),
        ("::1", "::1", 0, 1),
        ("fd00::1", "fd00::1", 0xfd00_0000_0000_0000, 1),
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 0x2001_0db8_0000_0000, 0x0001_0000_0000_0001),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", 0x0001_0002_0003_0004, 0x0005_0006_0007_0008),
        ("1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8", 0x0001_0000_0003_0004, 0x0005_0006_0007_0008),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", 0x0001_0002_0003_0004, 0x0005_0006_0007_0000),
        ("ff02::1:ff00:1", "ff02::1:ff00:1", 0xff02_0000_0000_0000, 0x0000_0001_ff00_0001),
    ] as [(String, String, UInt64, UInt64)])
    func text(_ input: String, _ printed: String, _ high: UInt64, _ low: UInt64) throws {
        let a = try #require(IPv6Address(input))
        #expect(a == IPv6Address(high: high, low: low))
        #expect(a.description == printed)
        #expect(IPv6Address(printed) == a)
    }

    @Test("malformed text is refused, signs included", arguments: [
        "", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", "::+1", "+1::", "-0::",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1.2.3.4", "::ffff:1.2.3.4",
    ])
    func refused(_ text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func groupsAndOrder() {
        let a = IPv6Address(high: 0x2001_0db8_0000_0001, low: 0x0000_0000_0000_00ff)
        #expect(a.groups == [0x2001, 0x0db8, 0, 1, 0, 0, 0, 0xff])
        #expect(IPv6Address(high: 0, low: 5) < IPv6Address(high: 1, low: 0))
        #expect(IPv6Address("ff02::1")!.isMulticast)
        #expect(!IPv6Address("fe80::1")!.isMulticast)
    }

    @Test("random addresses survive print and parse")
    func roundTrip() {
        var g = SeededGenerator(seed: 0x6666)
        for _ in 0..<2000 {
            // Zero groups are common in real addresses: mask some away.
            let a = IPv6Address(high: .random(in: 0...UInt64.max, using: &g) & .random(in: 0...UInt64.max, using: &g),
                                low: .random(in: 0...UInt64.max, using: &g) & .random(in: 0...UInt64.max, using: &g))
            #expect(IPv6Address(a.description) == a, "\(a)")
        }
    }
}
