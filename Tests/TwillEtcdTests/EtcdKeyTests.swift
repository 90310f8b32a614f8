import Testing
@testable import TwillEtcd

@Suite struct EtcdKeyTests {
    @Test func prefixLosesTrailingSlashesOnly() {
        #expect(EtcdKey.normalizedPrefix("/coreos.com/network/") == "/coreos.com/network")
        #expect(EtcdKey.normalizedPrefix("/coreos.com/network//") == "/coreos.com/network")
        #expect(EtcdKey.normalizedPrefix("/coreos.com/network") == "/coreos.com/network")
        #expect(EtcdKey.normalizedPrefix("/") == "/")
    }

    @Test func rangeEndIncrementsTheLastByte() {
        #expect(EtcdKey.rangeEnd(forPrefix: Array("/coreos.com/network/subnets/".utf8))
            == Array("/coreos.com/network/subnets0".utf8))
        #expect(EtcdKey.rangeEnd(forPrefix: [0x61, 0xff]) == [0x62])
        #expect(EtcdKey.rangeEnd(forPrefix: [0xff, 0xff]) == [0])
        #expect(EtcdKey.rangeEnd(forPrefix: []) == [0])
    }
}
