import Foundation
import Testing
@testable import TwillEtcd

@Suite struct EtcdWatchEventTests {
    @Test func putEventsHaveNoType() throws {
        let event = try JSONDecoder().decode(EtcdWatchEvent.self, from: Data(
            #"{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"4","version":"2","value":"cXV4","lease":"5"}}"#.utf8))
        #expect(!event.isDelete)
        #expect(event.kv.lease == 5)
    }

    @Test func deleteEvents() throws {
        let event = try JSONDecoder().decode(EtcdWatchEvent.self, from: Data(
            #"{"type":"DELETE","kv":{"key":"Zm9w","mod_revision":"5"},"prev_kv":{"key":"Zm9w","value":"YmF6"}}"#.utf8))
        #expect(event.isDelete)
        #expect(event.kv.keyString == "fop")
        #expect(event.kv.modRevision == 5)
    }
}
