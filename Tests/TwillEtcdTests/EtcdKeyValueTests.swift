import Foundation
import Testing
@testable import TwillEtcd

@Suite struct EtcdKeyValueTests {
    @Test func decodesTheGatewaysKeyValue() throws {
        let json = #"{"key":"Zm9v","create_revision":"2","mod_revision":"4","version":"2","value":"cXV4","lease":"2324035705370551313"}"#
        let kv = try JSONDecoder().decode(EtcdKeyValue.self, from: Data(json.utf8))
        #expect(kv == EtcdKeyValue(key: Array("foo".utf8), value: Array("qux".utf8), modRevision: 4, version: 2,
                                   lease: 2_324_035_705_370_551_313))
        #expect(kv.keyString == "foo")
    }

    @Test func aDeletedKeyHasOnlyItsKeyAndRevision() throws {
        let kv = try JSONDecoder().decode(EtcdKeyValue.self, from: Data(#"{"key":"Zm9w","mod_revision":"5"}"#.utf8))
        #expect(kv == EtcdKeyValue(key: Array("fop".utf8), value: [], modRevision: 5))
    }
}
