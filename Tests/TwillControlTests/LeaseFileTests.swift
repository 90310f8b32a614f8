import Foundation
import Testing
@testable import TwillControl
import TwillWire

@Suite struct LeaseFileTests {
    let later = LeaseRecord.roundedToMilliseconds(Date() + 3600)

    func lease(_ s: String, _ publicIP: String, expiration: Date? = nil) -> Lease {
        Lease(subnet: subnet(s), attributes: .vxlan(publicIP: ip(publicIP), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44")),
              expiration: expiration ?? later)
    }

    @Test func writesFlannelValuesAsStrings() throws {
        var file = LeaseFile()
        file.set(Lease(subnet: subnet("10.5.52.0/24"),
                       attributes: .vxlan(publicIP: ip("192.0.2.1"), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44")),
                       expiration: Date(timeIntervalSince1970: 1_735_689_600.5)))
        let text = String(decoding: file.bytes, as: UTF8.self)
        #expect(text == """
            {
              "version": 1,
              "subnets": {
                "10.5.52.0-24": {
                  "value": "{\\"PublicIP\\":\\"192.0.2.1\\",\\"PublicIPv6\\":null,\\"BackendType\\":\\"vxlan\\",\\"BackendData\\":{\\"VNI\\":1,\\"VtepMAC\\":\\"c6:d2:32:6f:8f:44\\"}}",
                  "expiration": "2025-01-01T00:00:00.500Z"
                }
              }
            }

            """)
    }

    @Test func roundTripsAndSortsBySubnet() throws {
        var file = LeaseFile()
        file.set(lease("10.5.9.0/24", "192.0.2.9"))
        file.set(lease("10.5.2.0/24", "192.0.2.2"))
        let again = try LeaseFile(bytes: file.bytes, path: "/x")
        #expect(again.leases(unexpiredAt: Date()) == [lease("10.5.2.0/24", "192.0.2.2"), lease("10.5.9.0/24", "192.0.2.9")])
        #expect(again.bytes == file.bytes)
    }

    @Test func foreignValuesSurviveARewriteByteForByte() throws {
        let text = """
            {"subnets": {"10.5.7.0-24": {"value": "{\\"PublicIP\\": \\"10.0.0.7\\", \\"BackendType\\": \\"host-gw\\", \\"Extra\\": [1]}", "expiration": "2999-01-01T00:00:00Z"}}}
            """
        var file = try LeaseFile(bytes: Array(text.utf8), path: "/x")
        file.set(lease("10.5.8.0/24", "192.0.2.8"))
        let reread = try LeaseFile(bytes: file.bytes, path: "/x")
        #expect(reread.record(for: subnet("10.5.7.0/24"))?.value
            == #"{"PublicIP": "10.0.0.7", "BackendType": "host-gw", "Extra": [1]}"#)
    }

    @Test func emptyDocumentsHoldNoLeases() throws {
        #expect(try LeaseFile(bytes: [], path: "/x").records.isEmpty)
        #expect(try LeaseFile(bytes: Array("{}".utf8), path: "/x").records.isEmpty)
        #expect(try LeaseFile(bytes: Array(#"{"version":1,"subnets":{}}"#.utf8), path: "/x").records.isEmpty)
    }

    @Test(arguments: [
        ("{", "not JSON"),
        ("[]", "top level must be an object"),
        (#"{"version":2}"#, "unsupported version 2"),
        (#"{"subnets":[]}"#, "\"subnets\" must be an object"),
        (#"{"subnets":{"10.5.1.0-24":{"expiration":"2999-01-01T00:00:00Z"}}}"#, "\"value\" must be a string"),
        (#"{"subnets":{"10.5.1.0-24":{"value":"{\"PublicIP\":\"10.0.0.1\"}"}}}"#, "\"expiration\" must be a time"),
        (#"{"subnets":{"10.5.1.0-24":{"value":"{\"PublicIP\":\"10.0.0.1\"}","expiration":"soon"}}}"#,
         "\"expiration\" must be a time"),
        (#"{"subnets":{"banana":{"value":"{\"PublicIP\":\"10.0.0.1\"}","expiration":"2999-01-01T00:00:00Z"}}}"#,
         "not a subnet key"),
        (#"{"subnets":{"10.5.1.0-24":{"value":"{\"PublicIP\":1}","expiration":"2999-01-01T00:00:00Z"}}}"#,
         "PublicIP"),
        (#"{"subnets":{"10.5.1.0-24":{"value":"{\"PublicIP\":\"10.0.0.1\"}","expiration":"2999-01-01T00:00:00Z"},"10.5.1.0-24&fc00::-64":{"value":"{\"PublicIP\":\"10.0.0.2\"}","expiration":"2999-01-01T00:00:00Z"}}}"#,
         "appears twice"),
    ])
    func corruptionIsReportedWithThePath(text: String, reason: String) {
        #expect {
            try LeaseFile(bytes: Array(text.utf8), path: "/run/twill/leases.json")
        } throws: { error in
            guard case .corruptStore(let path, let why) = error as? LeaseStoreError else { return false }
            return path == "/run/twill/leases.json" && why.contains(reason)
        }
    }

    @Test func expiredLeasesAreHiddenThenDropped() throws {
        let now = Date()
        var file = LeaseFile()
        file.set(lease("10.5.1.0/24", "192.0.2.1", expiration: now - 1))
        file.set(lease("10.5.2.0/24", "192.0.2.2", expiration: now + 60))
        #expect(file.leases(unexpiredAt: now).map(\.subnet) == [subnet("10.5.2.0/24")])
        #expect(file.records.count == 2)
        #expect(file.removeExpired(at: now).map(\.subnet) == [subnet("10.5.1.0/24")])
        #expect(file.records.map(\.lease.subnet) == [subnet("10.5.2.0/24")])
    }

    @Test func setReplacesAndRemoveDeletes() throws {
        var file = LeaseFile()
        file.set(lease("10.5.1.0/24", "192.0.2.1"))
        file.set(lease("10.5.1.0/24", "192.0.2.7"))
        #expect(file.records.count == 1)
        #expect(file.record(for: subnet("10.5.1.0/24"))?.lease.attributes.publicIP == ip("192.0.2.7"))
        file.remove(subnet("10.5.1.0/24"))
        #expect(file.records.isEmpty)
    }
}
