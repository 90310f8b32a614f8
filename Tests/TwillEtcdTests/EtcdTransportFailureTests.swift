import Testing
@testable import TwillEtcd

@Suite struct EtcdTransportFailureTests {
    @Test func describesItselfByItsReason() {
        let failure = EtcdTransportFailure(reason: "connection refused")
        #expect("\(failure)" == "connection refused")
        #expect(failure == EtcdTransportFailure(reason: "connection refused"))
    }
}
