import Foundation
import Testing
import TwillControl
import TwillWire

/// The LeaseStore contract, written against the protocol so the etcd store can run it too.
enum LeaseStoreContract {
    static func exercise(_ makeStore: () -> any LeaseStore) async throws {
        let a = makeStore()
        let b = makeStore()
        let config = try await a.networkConfig()
        let attributesA = LeaseAttributes.vxlan(publicIP: ip("192.0.2.10"), vni: config.backend.vni,
                                                vtepMAC: mac("02:00:00:00:00:0a"))
        let attributesB = LeaseAttributes.vxlan(publicIP: ip("192.0.2.11"), vni: config.backend.vni,
                                                vtepMAC: mac("02:00:00:00:00:0b"))
        let leaseA = try await a.acquireLease(attributes: attributesA, subnetFileSubnet: nil, ttl: .seconds(60))
        let leaseB = try await b.acquireLease(attributes: attributesB, subnetFileSubnet: leaseA.subnet, ttl: .seconds(60))
        #expect(config.fits(leaseA.subnet) && config.fits(leaseB.subnet))
        #expect(leaseA.subnet != leaseB.subnet)
        #expect(Set(try await b.leases().map(\.subnet)) == [leaseA.subnet, leaseB.subnet])
        // Acquiring again is idempotent for the same node.
        #expect(try await a.acquireLease(attributes: attributesA, subnetFileSubnet: nil, ttl: .seconds(60)).subnet
            == leaseA.subnet)
        let renewed = try await b.renewLease(leaseA, ttl: .seconds(120))
        #expect(renewed.subnet == leaseA.subnet && renewed.expiration > leaseA.expiration)
        let stranger = Lease(subnet: leaseA.subnet, attributes: attributesB, expiration: Date() + 60)
        await #expect(throws: LeaseStoreError.leaseLost(leaseA.subnet)) {
            try await a.renewLease(stranger, ttl: .seconds(60))
        }
        var iterator = a.watchLeases().makeAsyncIterator()
        let first = try await iterator.next()
        #expect(Set(first?.map(\.subnet) ?? []) == [leaseA.subnet, leaseB.subnet])
    }
}

@Suite struct LeaseStoreTests {
    @Test func embeddedStoreMeetsTheContract() async throws {
        try await withTemporaryDirectory { dir throws in
            try writeText(#"{"Network":"10.7.0.0/16","Backend":{"Type":"vxlan","VNI":3}}"#, to: dir + "/net.json")
            try await LeaseStoreContract.exercise {
                EmbeddedLeaseStore(path: dir + "/leases.json", networkConfigPath: dir + "/net.json", logger: quietLogger)
            }
        }
    }
}
