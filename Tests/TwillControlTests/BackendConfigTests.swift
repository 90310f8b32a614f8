import Testing
import TwillControl
import TwillWire

@Suite struct BackendConfigTests {
    @Test func defaultsAreVXLANOnItsPortWithVNI1() {
        let backend = BackendConfig()
        #expect(backend == BackendConfig(format: .vxlan, port: 8472, vni: 1, mtu: nil))
    }

    @Test func portZeroMeansTheFormatsDefault() {
        #expect(BackendConfig(format: .udp).port == 8285)
        #expect(BackendConfig(format: .udp, port: 0).port == 8285)
        #expect(BackendConfig(format: .vxlan, port: 0).port == 8472)
        #expect(BackendConfig(format: .udp, port: 7890).port == 7890)
    }
}
