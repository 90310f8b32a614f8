import Foundation
import Testing
@testable import TwillEtcd

@Suite struct EtcdReplyTests {
    func decode(_ json: String) throws -> EtcdReply { try JSONDecoder().decode(EtcdReply.self, from: Data(json.utf8)) }

    @Test func range() throws {
        let reply = try decode(#"{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"3","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"},{"key":"Zm9w","create_revision":"3","mod_revision":"3","version":"1","value":"YmF6"}],"count":"2"}"#)
        #expect(reply.revision == 3)
        #expect(reply.kvs.map(\.keyString) == ["foo", "fop"])
        #expect(!reply.succeeded)
    }

    @Test func emptyRange() throws {
        let reply = try decode(#"{"header":{"revision":"9"}}"#)
        #expect(reply.revision == 9)
        #expect(reply.kvs.isEmpty)
    }

    @Test func txnWithRangeAndPutResults() throws {
        let reply = try decode(#"{"header":{"revision":"7"},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"6"},"kvs":[{"key":"Zm9v","mod_revision":"6","version":"1","value":"YmFy","lease":"42"}],"count":"1"}},{"response_put":{"header":{"revision":"7"}}}]}"#)
        #expect(reply.succeeded)
        #expect(reply.rangeResults.map(\.lease) == [42])
    }

    @Test func failedTxnLeavesSucceededOut() throws {
        let reply = try decode(#"{"header":{"revision":"7"},"responses":[{"response_range":{"header":{"revision":"7"}}}]}"#)
        #expect(!reply.succeeded)
        #expect(reply.rangeResults.isEmpty)
    }

    @Test func leaseGrantTimeToLiveAndAuthenticate() throws {
        let grant = try decode(#"{"header":{"revision":"1"},"ID":"2324035705370551303","TTL":"30"}"#)
        #expect(grant.leaseID == 2_324_035_705_370_551_303)
        #expect(grant.ttl == 30)
        #expect(try decode(#"{"header":{},"ID":"1","TTL":"-1"}"#).ttl == -1)
        #expect(try decode(#"{"header":{"revision":"9"},"token":"RnQbJDsOqkUWfAYV.25"}"#).token == "RnQbJDsOqkUWfAYV.25")
    }
}
