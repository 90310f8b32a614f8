import Testing
import TwillWire

@Suite("IPv4Address")
struct IPv4AddressTests {
    @Test func parseAndPrint() {
        #expect(IPv4Address("192.0.2.1") == IPv4Address(192, 0, 2, 1))
        #expect(IPv4Address("192.0.2.1")?.value == 0xc000_0201)
        #expect(IPv4Address("0.0.0.0") == IPv4Address(0))
        #expect(IPv4Address("255.255.255.255") == IPv4Address(0xffff_ffff))
        #expect(IPv4Address(0xc000_0201).description == "192.0.2.1")
    }

    @Test("malformed text is refused", arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1.2.3.+4", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ",
        "1234.1.1.1", "a.b.c.d", "1.2.3.4/8",
    ])
    func refused(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func order() {
        #expect(IPv4Address(10, 0, 0, 1) < IPv4Address(10, 0, 1, 0))
        #expect(IPv4Address(224, 0, 0, 1).isMulticast)
        #expect(IPv4Address(239, 255, 255, 255).isMulticast)
        #expect(!IPv4Address(240, 0, 0, 1).isMulticast)
        #expect(!IPv4Address(10, 244, 1, 2).isMulticast)
    }
}
