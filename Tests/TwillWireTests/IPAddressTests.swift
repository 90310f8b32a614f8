import Testing
import TwillWire

@Suite("IPAddress")
struct IPAddressTests {
    @Test func parse() {
        #expect(IPAddress("10.244.1.2") == .v4(IPv4Address(10, 244, 1, 2)))
        #expect(IPAddress("fd00::1") == .v6(IPv6Address(high: 0xfd00_0000_0000_0000, low: 1)))
        #expect(IPAddress("10.244.1") == nil)
        #expect(IPAddress("fd00:::1") == nil)
        #expect(IPAddress("") == nil)
    }

    @Test func describe() {
        #expect(IPAddress.v4(IPv4Address(192, 0, 2, 1)).description == "192.0.2.1")
        #expect(IPAddress.v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)).description == "2001:db8::1")
    }

    @Test("v4 and v6 never compare equal")
    func families() {
        #expect(IPAddress.v4(IPv4Address(0)) != IPAddress.v6(IPv6Address(high: 0, low: 0)))
        #expect(Set([IPAddress("::")!, IPAddress("0.0.0.0")!]).count == 2)
    }
}
