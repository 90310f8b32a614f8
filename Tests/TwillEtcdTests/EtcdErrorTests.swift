import Testing
import TwillControl
@testable import TwillEtcd

@Suite struct EtcdErrorTests {
    @Test func parsesEtcdsErrorBody() {
        let body = Array(#"{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}"#.utf8)
        let error = EtcdError.fromReply(status: 401, body: body, endpoint: "http://e:2379")
        #expect(error == .server(endpoint: "http://e:2379", code: 16, message: "etcdserver: invalid auth token"))
        #expect(error.needsAuthentication)
        #expect(!error.isMemberUnavailable)
    }

    @Test func somethingElseIsABadReply() {
        let error = EtcdError.fromReply(status: 404, body: Array("404 page not found\n".utf8),
                                        endpoint: "http://e:2380")
        #expect(error == .badReply(endpoint: "http://e:2380", reason: "HTTP status 404: 404 page not found"))
        guard case .io(let path, let reason) = error.leaseStoreError else {
            Issue.record("expected io")
            return
        }
        #expect(path == "etcd at http://e:2380")
        #expect(reason.contains("v3 API"))
    }

    @Test func classifiesCodes() {
        #expect(EtcdError.server(endpoint: "e", code: 14, message: "etcdserver: no leader").isMemberUnavailable)
        #expect(EtcdError.server(endpoint: "e", code: 3, message: "etcdserver: user name is empty").needsAuthentication)
        #expect(!EtcdError.server(endpoint: "e", code: 3, message: "other").needsAuthentication)
    }

    @Test func unreachableNamesEveryEndpointAndWhy() {
        let error = EtcdError.unreachable(endpoints: ["http://a:2379", "http://b:2379"],
                                          failures: ["http://a:2379: connection refused", "http://b:2379: no reply"])
        #expect(error.leaseStoreError == .io(path: "etcd http://a:2379,http://b:2379",
                                             reason: "no endpoint answered (http://a:2379: connection refused; "
                                                 + "http://b:2379: no reply); check that etcd runs there and that "
                                                 + "the endpoints, TLS files and credentials are right"))
    }

    @Test func serverErrorsCarryHints() {
        let anonymous = EtcdError.server(endpoint: "http://a:2379", code: 3, message: "etcdserver: user name is empty")
        #expect(anonymous.leaseStoreError == .io(
            path: "etcd at http://a:2379",
            reason: "refused the request: etcdserver: user name is empty (gRPC code 3); "
                + "etcd has authentication enabled: give a username and password"))
        let denied = EtcdError.server(endpoint: "e", code: 7, message: "etcdserver: permission denied")
        #expect(denied.leaseStoreError.description.contains("read-write permission"))
    }
}
