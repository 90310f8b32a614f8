import Testing
import TwillWire

@Suite("IPProtocol")
struct IPProtocolTests {
    @Test("numbers are IANA's")
    func numbers() {
        #expect(IPProtocol.icmp == 1)
        #expect(IPProtocol.tcp == 6)
        #expect(IPProtocol.udp == 17)
        #expect(IPProtocol.icmpv6 == 58)
        #expect(IPProtocol.hopByHop == 0)
        #expect(IPProtocol.routing == 43)
        #expect(IPProtocol.fragment == 44)
        #expect(IPProtocol.authentication == 51)
        #expect(IPProtocol.noNextHeader == 59)
        #expect(IPProtocol.destinationOptions == 60)
    }
}
