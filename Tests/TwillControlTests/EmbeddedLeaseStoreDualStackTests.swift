import TwillTestSupport
import Foundation
import Testing
@testable import TwillControl
import TwillWire

/// The embedded store with IPv6 in the network config: every lease is a flannel dual-stack lease.
@Suite struct EmbeddedLeaseStoreDualStackTests {
    static let dualConfig = #"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}"#

    static func vxlan(_ publicIP: String, _ publicIPv6: String) -> LeaseAttributes {
        .vxlan(publicIP: ip(publicIP), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44"), publicIPv6: ip6(publicIPv6),
               vtepMACv6: mac("c6:d2:32:6f:8f:44"))
    }

    func fixture(_ dir: String) throws -> EmbeddedLeaseStoreTests.Fixture {
        try EmbeddedLeaseStoreTests.Fixture(dir, config: Self.dualConfig)
    }

    func records(_ fixture: EmbeddedLeaseStoreTests.Fixture) throws -> [LeaseRecord] {
        try LeaseFile(bytes: readBytes(fixture.storePath) ?? [], path: fixture.storePath).records
    }

    @Test func acquireWritesADualStackKeyAndFlannelsValue() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try fixture(dir)
            let store = fixture.store()
            let lease = try await store.acquireLease(attributes: Self.vxlan("192.0.2.11", "2001:db8::11"),
                                                     subnetFileSubnet: nil, ttl: .seconds(3600))
            let config = try await store.networkConfig()
            let v6 = try #require(lease.subnetV6)
            #expect(config.fits(lease.subnet, v6: v6))
            // Paired by index: the n-th IPv4 subnet from SubnetMin with the n-th IPv6 subnet.
            let index = (lease.subnet.address.value - ip("10.5.1.0").value) >> 8
            #expect(v6 == IPv6Subnet(address: IPv6Address(high: 0xfc00_0000_0000_0001 + UInt64(index), low: 0),
                                     prefixLength: 64))
            #expect(try records(fixture).map(\.key) == ["\(lease.subnet.address)-24&\(v6.address)-64"])
            #expect(try records(fixture).first?.value == DualStackLeaseTests.flannelDualStackVXLAN)
            #expect(try await store.leases() == [lease])
            // A restarted node gets both halves back.
            let again = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.11", "2001:db8::11"),
                                                               subnetFileSubnet: nil, ttl: .seconds(3600))
            #expect(again.subnet == lease.subnet && again.subnetV6 == lease.subnetV6)
        }
    }

    @Test func subnetFilePairIsReused() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try fixture(dir)
            let lease = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1", "2001:db8::1"),
                                                               subnetFileSubnet: subnet("10.5.72.0/24"),
                                                               subnetFileSubnetV6: subnet6("fc00:0:0:72::/64"),
                                                               ttl: .seconds(60))
            #expect(lease.key == "10.5.72.0-24&fc00:0:0:72::-64")
        }
    }

    @Test func renewKeepsTheDualKey() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try fixture(dir)
            let store = fixture.store()
            let lease = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1", "2001:db8::1"),
                                                     subnetFileSubnet: nil, ttl: .seconds(60))
            let renewed = try await fixture.store().renewLease(lease, ttl: .seconds(7200))
            #expect(renewed.key == lease.key)
            #expect(renewed.subnetV6 == lease.subnetV6)
            #expect(renewed.expiration > lease.expiration + 7000)
            #expect(try records(fixture).map(\.key) == [lease.key])
            #expect(try await store.leases() == [renewed])
            // The same IPv4 subnet with another IPv6 half is not this lease.
            var other = lease
            other.subnetV6 = subnet6("fc00:0:0:99::/64")
            await #expect(throws: LeaseStoreError.leaseLost(lease.subnet)) {
                try await store.renewLease(other, ttl: .seconds(60))
            }
        }
    }

    @Test func watchSeesDualStackLeases() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try fixture(dir)
            let watcher = WatchRecorder.start(fixture.store().watchLeases())
            defer { watcher.cancel() }
            #expect(await eventually { watcher.latest == [] })
            let lease = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.7", "2001:db8::7"),
                                                               subnetFileSubnet: nil, ttl: .seconds(60))
            #expect(await eventually { watcher.latest == [lease] })
            #expect(watcher.latest?.first?.subnetV6 == lease.subnetV6)
            #expect(watcher.latest?.first?.attributes.publicIPv6 == ip6("2001:db8::7"))
        }
    }

    @Test func anIPv4OnlyLeaseIsReplacedOnceIPv6IsOn() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try EmbeddedLeaseStoreTests.Fixture(dir)
            let old = try await fixture.store().acquireLease(attributes: EmbeddedLeaseStoreTests.vxlan("192.0.2.1"),
                                                             subnetFileSubnet: subnet("10.5.9.0/24"), ttl: .seconds(600))
            #expect(old.key == "10.5.9.0-24")
            try writeText(Self.dualConfig, to: fixture.configPath)
            let store = fixture.store()
            let fresh = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1", "2001:db8::1"),
                                                     subnetFileSubnet: subnet("10.5.9.0/24"), ttl: .seconds(600))
            let config = try await store.networkConfig()
            #expect(config.fits(fresh.subnet, v6: fresh.subnetV6))
            #expect(fresh.subnetV6 != nil)
            // The old key is gone; the node holds one lease.
            #expect(try records(fixture).map(\.key) == [fresh.key])
            #expect(try await store.leases() == [fresh])
        }
    }

    @Test func aDualStackPeerIsReadWithoutIPv6InTheConfig() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try EmbeddedLeaseStoreTests.Fixture(dir)
            let value = DualStackLeaseTests.flannelDualStackVXLAN.replacingOccurrences(of: "\"", with: "\\\"")
            try writeText(#"{"version":1,"subnets":{"10.5.1.0-24&fc00:0:0:1::-64":{"value":""# + value
                + #"","expiration":"2999-01-01T00:00:00.000Z"}}}"#, to: fixture.storePath)
            let store = fixture.store()
            let peers = try await store.leases()
            #expect(peers.map(\.subnet) == [subnet("10.5.1.0/24")])
            #expect(peers.first?.subnetV6 == subnet6("fc00:0:0:1::/64"))
            let mine = try await store.acquireLease(attributes: EmbeddedLeaseStoreTests.vxlan("192.0.2.2"),
                                                    subnetFileSubnet: subnet("10.5.1.0/24"), ttl: .seconds(60))
            #expect(mine.subnet != subnet("10.5.1.0/24"))
            #expect(mine.subnetV6 == nil)
        }
    }
}
