import Foundation
import Testing
@testable import TwillEtcd

@Suite struct EtcdRequestTests {
    func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    let key = Array("/coreos.com/network/subnets/10.5.52.0-24".utf8)
    var key64: String { EtcdRequest.base64(key) }

    @Test func rangeWithAndWithoutEnd() {
        #expect(text(EtcdRequest.range(key: Array("foo".utf8))) == #"{"key":"Zm9v"}"#)
        #expect(text(EtcdRequest.range(key: Array("foo".utf8), rangeEnd: Array("fop".utf8)))
            == #"{"key":"Zm9v","range_end":"Zm9w"}"#)
        #expect(text(EtcdRequest.range(key: Array("foo".utf8), rangeEnd: Array("fop".utf8), keysOnly: true))
            == #"{"key":"Zm9v","keys_only":true,"range_end":"Zm9w"}"#)
    }

    @Test func plainPut() {
        #expect(text(EtcdRequest.put(key: Array("a".utf8), value: Array("b".utf8)))
            == #"{"key":"YQ==","value":"Yg=="}"#)
    }

    @Test func leaseRequestsSendInt64sAsStrings() {
        #expect(text(EtcdRequest.grant(ttlSeconds: 86400)) == #"{"ID":"0","TTL":"86400"}"#)
        #expect(text(EtcdRequest.revoke(leaseID: 7_587_848_917_473_262_856)) == #"{"ID":"7587848917473262856"}"#)
        #expect(text(EtcdRequest.timeToLive(leaseID: 5)) == #"{"ID":"5"}"#)
    }

    @Test func createIsFlannelsVersionZeroTransaction() throws {
        let request = EtcdRequest.create(key: key, value: Array("v".utf8), leaseID: 9)
        let body = try JSONSerialization.jsonObject(with: request) as? [String: Any]
        let compare = try #require((body?["compare"] as? [[String: Any]])?.first)
        #expect(compare["key"] as? String == key64)
        #expect(compare["target"] as? String == "VERSION")
        #expect(compare["result"] as? String == "EQUAL")
        #expect(compare["version"] as? String == "0")
        let success = try #require(body?["success"] as? [[String: Any]])
        let put = try #require(success.first?["request_put"] as? [String: Any])
        #expect(put["lease"] as? String == "9")
        #expect(put["value"] as? String == "dg==")
        let failure = try #require(body?["failure"] as? [[String: Any]])
        #expect((failure.first?["request_range"] as? [String: Any])?["key"] as? String == key64)
    }

    @Test func renewComparesTheValueAndReadsTheOldLeaseFirst() throws {
        let request = EtcdRequest.renew(key: key, value: Array("v".utf8), leaseID: 9)
        let body = try JSONSerialization.jsonObject(with: request) as? [String: Any]
        let compare = try #require((body?["compare"] as? [[String: Any]])?.first)
        #expect(compare["target"] as? String == "VALUE")
        #expect(compare["value"] as? String == "dg==")
        let success = try #require(body?["success"] as? [[String: Any]])
        #expect(success.count == 2)
        #expect(success[0]["request_range"] != nil)
        #expect(success[1]["request_put"] != nil)
    }

    @Test func replaceAndDeleteCompareTheModRevision() throws {
        for data in [EtcdRequest.replace(key: key, modRevision: 12, value: [], leaseID: 1),
                     EtcdRequest.delete(key: key, modRevision: 12)] {
            let body = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let compare = try #require((body?["compare"] as? [[String: Any]])?.first)
            #expect(compare["target"] as? String == "MOD")
            #expect(compare["mod_revision"] as? String == "12")
        }
    }

    @Test func watchAndAuthenticate() {
        #expect(text(EtcdRequest.watch(key: Array("a".utf8), rangeEnd: Array("b".utf8), startRevision: 10))
            == #"{"create_request":{"key":"YQ==","range_end":"Yg==","start_revision":"10"}}"#)
        #expect(text(EtcdRequest.authenticate(name: "root", password: "p\"w")) == #"{"name":"root","password":"p\"w"}"#)
    }
}
