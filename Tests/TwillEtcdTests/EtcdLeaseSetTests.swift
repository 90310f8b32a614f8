import Foundation
import Testing
import TwillControl
@testable import TwillEtcd
import TwillWire

@Suite struct EtcdLeaseSetTests {
    static func kv(_ name: String, ip: String = "192.0.2.1", lease: Int64 = 1, revision: Int64 = 1) -> EtcdKeyValue {
        EtcdKeyValue(key: Array("/coreos.com/network/subnets/\(name)".utf8),
                     value: Array(vxlan(ip).jsonString.utf8), modRevision: revision, lease: lease)
    }

    @Test func appliesPutsAndDeletes() {
        var set = EtcdLeaseSet([EtcdLeaseEntry(Self.kv("10.5.1.0-24"))!])
        let added = set.apply(EtcdWatchEvent(isDelete: false, kv: Self.kv("10.5.2.0-24", ip: "192.0.2.2", lease: 2)))
        #expect(added)
        #expect(set.etcdLeases == [1, 2])
        let deletion = EtcdKeyValue(key: Self.kv("10.5.1.0-24").key, value: [])
        let removed = set.apply(EtcdWatchEvent(isDelete: true, kv: deletion))
        #expect(removed)
        #expect(set.entries.keys.sorted() == ["/coreos.com/network/subnets/10.5.2.0-24"])
        // Deleting what is not there, or putting a non-subnet key, changes nothing.
        let missing = set.apply(EtcdWatchEvent(isDelete: true, kv: Self.kv("10.5.9.0-24")))
        let junk = set.apply(EtcdWatchEvent(isDelete: false, kv: Self.kv("not-a-subnet")))
        #expect(!missing && !junk)
        #expect(set.entries.count == 1)
    }

    @Test func leasesAreSortedUnexpiredAndReadable() {
        let now = Date()
        let set = EtcdLeaseSet([Self.kv("10.5.3.0-24", lease: 3), Self.kv("10.5.1.0-24", lease: 1),
                                Self.kv("10.5.2.0-24", lease: 2), Self.kv("10.5.4.0-24", lease: 0),
                                Self.kv("10.5.5.0-24", lease: 5)].compactMap { EtcdLeaseEntry($0) })
        let leases = set.leases(expirations: [1: now + 60, 2: now - 1, 3: now + 30], now: now)
        // Lease 2 has expired, lease 5 is unknown; a key without an etcd lease never expires.
        #expect(leases.map(\.subnet) == [subnet("10.5.1.0/24"), subnet("10.5.3.0/24"), subnet("10.5.4.0/24")])
        #expect(leases.last?.expiration == .distantFuture)
        #expect(set.etcdLeases == [1, 2, 3, 5])
    }
}
