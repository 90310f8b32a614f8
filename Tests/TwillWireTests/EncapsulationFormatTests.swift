import Testing
import TwillWire

@Suite("EncapsulationFormat")
struct EncapsulationFormatTests {
    @Test func ports() {
        #expect(EncapsulationFormat.udp.defaultPort == 8285)
        #expect(EncapsulationFormat.vxlan.defaultPort == 8472)
    }

    @Test("header lengths and overheads: udp adds nothing, vxlan 8 + 14")
    func lengths() {
        #expect(EncapsulationFormat.udp.headerLength == 0)
        #expect(EncapsulationFormat.vxlan.headerLength == 22)
        #expect(EncapsulationFormat.udp.overhead(ipv6Underlay: false) == 28)
        #expect(EncapsulationFormat.vxlan.overhead(ipv6Underlay: false) == 50)
        #expect(EncapsulationFormat.udp.overhead(ipv6Underlay: true) == 48)
        #expect(EncapsulationFormat.vxlan.overhead(ipv6Underlay: true) == 70)
        // The headroom covers every format plus an outer IPv4/UDP header for raw sends.
        for f in EncapsulationFormat.allCases {
            #expect(f.overhead(ipv6Underlay: false) <= EncapsulationFormat.maximumHeadroom)
        }
    }

    @Test func names() {
        #expect(EncapsulationFormat.allCases == [.udp, .vxlan])
        #expect(EncapsulationFormat(rawValue: "vxlan") == .vxlan)
        #expect(EncapsulationFormat(rawValue: "host-gw") == nil)
        #expect(EncapsulationFormat.udp.description == "udp")
    }
}
