import Foundation
import Testing
@testable import TwillEtcd

@Suite struct EtcdWatchMessageTests {
    func decode(_ json: String) throws -> EtcdWatchMessage {
        try JSONDecoder().decode(EtcdWatchMessage.self, from: Data(json.utf8))
    }

    @Test func created() throws {
        let message = try decode(#"{"result":{"header":{"revision":"9"},"created":true}}"#)
        #expect(message.created && !message.canceled && message.events.isEmpty)
        #expect(message.revision == 9)
    }

    @Test func events() throws {
        let message = try decode(#"{"result":{"header":{"revision":"5"},"events":[{"kv":{"key":"Zm9v","mod_revision":"4","value":"cXV4"}},{"type":"DELETE","kv":{"key":"Zm9w","mod_revision":"5"}}]}}"#)
        #expect(message.events.map(\.isDelete) == [false, true])
        #expect(message.revision == 5)
    }

    @Test func canceledForCompaction() throws {
        let message = try decode(#"{"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"8"}}"#)
        #expect(message.canceled)
        #expect(message.compactRevision == 8)
    }

    @Test func canceledForAuthentication() throws {
        let message = try decode(#"{"result":{"header":{"revision":"9"},"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"rpc error: code = InvalidArgument desc = etcdserver: user name is empty"}}"#)
        #expect(message.canceled)
        #expect(message.compactRevision == 0)
        #expect(message.cancelReason.contains("user name is empty"))
    }

    @Test func streamError() throws {
        let message = try decode(#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#)
        #expect(message.errorCode == 14)
        #expect(message.errorMessage == "etcdserver: no leader")
    }
}
