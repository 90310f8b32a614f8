import TwillTestSupport
import Foundation
import Testing
@testable import TwillControl
import TwillWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct EmbeddedLeaseStoreTests {
    static let network16 = #"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}"#

    /// A store file and config in `dir`; each call to `store()` is a separate instance, like another daemon.
    struct Fixture {
        let dir: String
        var storePath: String { dir + "/state/leases.json" }
        var configPath: String { dir + "/etc/network.json" }

        init(_ dir: String, config: String? = EmbeddedLeaseStoreTests.network16) throws {
            self.dir = dir
            if let config { try writeText(config, to: configPath) }
        }

        func store(pollInterval: Duration = .milliseconds(50)) -> EmbeddedLeaseStore {
            EmbeddedLeaseStore(path: storePath, networkConfigPath: configPath, pollInterval: pollInterval,
                               logger: quietLogger)
        }
    }

    static func vxlan(_ publicIP: String) -> LeaseAttributes {
        .vxlan(publicIP: ip(publicIP), vni: 1, vtepMAC: mac("c6:d2:32:6f:8f:44"))
    }

    @Test func acquireWritesAFlannelLease() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let store = fixture.store()
            let before = Date()
            let lease = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                     ttl: .seconds(3600))
            let config = try await store.networkConfig()
            #expect(config.fits(lease.subnet))
            #expect(lease.attributes == Self.vxlan("192.0.2.1"))
            #expect(lease.expiration >= before + 3599 && lease.expiration <= Date() + 3601)
            #expect(try await store.leases() == [lease])
            // The file holds flannel's exact lease value under flannel's key.
            let file = try LeaseFile(bytes: readBytes(fixture.storePath) ?? [], path: fixture.storePath)
            #expect(file.records.map(\.key) == [Lease.key(for: lease.subnet)])
            #expect(file.records.first?.value
                == #"{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#)
            #expect(FileManager.default.fileExists(atPath: fixture.storePath + ".lock"))
            #expect(store.lockPath == fixture.storePath + ".lock")
        }
    }

    @Test func sameNodeGetsItsSubnetBackAfterARestart() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let first = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"),
                                                               subnetFileSubnet: nil, ttl: .seconds(3600))
            let other = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.2"),
                                                               subnetFileSubnet: nil, ttl: .seconds(3600))
            #expect(other.subnet != first.subnet)
            // A new daemon with a new VTEP MAC but the same public IP: same subnet, new attributes.
            let restarted = LeaseAttributes.vxlan(publicIP: ip("192.0.2.1"), vni: 1, vtepMAC: mac("02:00:00:00:00:01"))
            let again = try await fixture.store().acquireLease(attributes: restarted, subnetFileSubnet: nil,
                                                               ttl: .seconds(3600))
            #expect(again.subnet == first.subnet)
            #expect(again.attributes == restarted)
            let leases = try await fixture.store().leases()
            #expect(leases.count == 2)
            #expect(leases.first { $0.subnet == first.subnet }?.attributes.vtepMAC == mac("02:00:00:00:00:01"))
        }
    }

    @Test func subnetFromTheSubnetFileIsReusedWhenFree() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let lease = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"),
                                                               subnetFileSubnet: subnet("10.5.72.0/24"),
                                                               ttl: .seconds(3600))
            #expect(lease.subnet == subnet("10.5.72.0/24"))
            // Another node remembering the same subnet does not get it.
            let second = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.2"),
                                                                subnetFileSubnet: subnet("10.5.72.0/24"),
                                                                ttl: .seconds(3600))
            #expect(second.subnet != subnet("10.5.72.0/24"))
        }
    }

    @Test func renewExtendsTheSameLease() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let store = fixture.store()
            let lease = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                     ttl: .seconds(60))
            let renewed = try await fixture.store().renewLease(lease, ttl: .seconds(7200))
            #expect(renewed.subnet == lease.subnet)
            #expect(renewed.attributes == lease.attributes)
            #expect(renewed.expiration > lease.expiration + 7000)
            #expect(try await store.leases() == [renewed])
        }
    }

    @Test func renewFailsWhenTheLeaseIsGoneOrTaken() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let store = fixture.store()
            let never = Lease(subnet: subnet("10.5.9.0/24"), attributes: Self.vxlan("192.0.2.1"), expiration: Date() + 60)
            await #expect(throws: LeaseStoreError.leaseLost(subnet("10.5.9.0/24"))) {
                try await store.renewLease(never, ttl: .seconds(60))
            }
            // Someone else holds the subnet now.
            let theirs = try await store.acquireLease(attributes: Self.vxlan("192.0.2.2"),
                                                      subnetFileSubnet: subnet("10.5.9.0/24"), ttl: .seconds(60))
            #expect(theirs.subnet == subnet("10.5.9.0/24"))
            await #expect(throws: LeaseStoreError.leaseLost(subnet("10.5.9.0/24"))) {
                try await store.renewLease(never, ttl: .seconds(60))
            }
            #expect(try await store.leases() == [theirs])
        }
    }

    @Test func leasesExpireAfterTheirTTL() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let store = fixture.store()
            let short = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                     ttl: .seconds(1))
            #expect(try await store.leases() == [short])
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try await store.leases().isEmpty)
            // Renewing too late fails: the lease is gone, as an etcd key would be.
            await #expect(throws: LeaseStoreError.leaseLost(short.subnet)) {
                try await store.renewLease(short, ttl: .seconds(60))
            }
            // The expired entry stays in the file until the next write drops it.
            #expect(try LeaseFile(bytes: readBytes(fixture.storePath) ?? [], path: "").records.count == 1)
            let other = try await store.acquireLease(attributes: Self.vxlan("192.0.2.2"), subnetFileSubnet: nil,
                                                     ttl: .seconds(60))
            let records = try LeaseFile(bytes: readBytes(fixture.storePath) ?? [], path: "").records
            #expect(records.map(\.lease) == [other])
        }
    }

    @Test func expiredSubnetIsFreeForOthers() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir, config: #"{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.1.0"}"#)
            let store = fixture.store()
            _ = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil, ttl: .seconds(2))
            await #expect(throws: LeaseStoreError.noFreeSubnet(min: ip("10.5.1.0"), max: ip("10.5.1.0"), subnetLength: 24)) {
                try await store.acquireLease(attributes: Self.vxlan("192.0.2.2"), subnetFileSubnet: nil, ttl: .seconds(60))
            }
            try await Task.sleep(for: .milliseconds(2200))
            let lease = try await store.acquireLease(attributes: Self.vxlan("192.0.2.2"), subnetFileSubnet: nil,
                                                     ttl: .seconds(60))
            #expect(lease.subnet == subnet("10.5.1.0/24"))
        }
    }

    @Test func watchSeesAnotherInstancesLeaseAppearAndExpire() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let watcher = WatchRecorder.start(fixture.store().watchLeases())
            defer { watcher.cancel() }
            #expect(await eventually { watcher.latest == [] })
            // Three seconds: long enough for a loaded machine's watch to see the lease before it expires.
            let lease = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.7"),
                                                               subnetFileSubnet: nil, ttl: .seconds(3))
            // Seen at any point: a slow machine may observe the expiry before this test looks.
            #expect(await eventually { watcher.snapshots.contains([lease]) })
            #expect(await eventually(timeout: .seconds(8)) { watcher.latest == [] })
            #expect(watcher.snapshots == [[], [lease], []])
            #expect(watcher.error == nil)
        }
    }

    @Test func watchReportsChangesButNotBareRenewals() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let store = fixture.store()
            let a = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                 ttl: .seconds(60))
            let watcher = WatchRecorder.start(fixture.store().watchLeases())
            defer { watcher.cancel() }
            #expect(await eventually { watcher.latest == [a] })
            _ = try await store.renewLease(a, ttl: .seconds(120))
            try await Task.sleep(for: .milliseconds(200))
            #expect(watcher.snapshots.count == 1)
            let moved = LeaseAttributes.vxlan(publicIP: ip("192.0.2.1"), vni: 1, vtepMAC: mac("02:00:00:00:00:09"))
            let changed = try await store.acquireLease(attributes: moved, subnetFileSubnet: nil, ttl: .seconds(60))
            #expect(await eventually { watcher.latest == [changed] })
        }
    }

    @Test func watchEndsOnCancellation() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let watcher = WatchRecorder.start(fixture.store().watchLeases())
            #expect(await eventually { watcher.latest == [] })
            watcher.cancel()
            #expect(await eventually { watcher.finished })
            #expect(watcher.error == nil)
        }
    }

    @Test func watchFailsOnACorruptStore() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let watcher = WatchRecorder.start(fixture.store().watchLeases())
            defer { watcher.cancel() }
            #expect(await eventually { watcher.latest == [] })
            try writeText("{garbage", to: fixture.storePath)
            #expect(await eventually { watcher.finished })
            guard case .corruptStore(let path, _) = watcher.error as? LeaseStoreError else {
                Issue.record("unexpected \(String(describing: watcher.error))")
                return
            }
            #expect(path == fixture.storePath)
        }
    }

    @Test func twentyConcurrentDaemonsNeverShareASubnet() async throws {
        try await withTemporaryDirectory { dir throws in
            // 31 subnets for 20 nodes: without the lock, random picks among them would collide.
            let fixture = try Fixture(dir, config: #"{"Network":"10.5.0.0/24","SubnetLen":29}"#)
            let leases = try await withThrowingTaskGroup(of: Lease.self) { group in
                for node in 1...20 {
                    let store = fixture.store()
                    group.addTask {
                        try await store.acquireLease(attributes: Self.vxlan("192.0.2.\(node)"), subnetFileSubnet: nil,
                                                     ttl: .seconds(60))
                    }
                }
                return try await group.reduce(into: [Lease]()) { $0.append($1) }
            }
            #expect(leases.count == 20)
            #expect(Set(leases.map(\.subnet)).count == 20)
            #expect(Set(leases.map(\.attributes.publicIP)).count == 20)
            let stored = try await fixture.store().leases()
            #expect(stored.count == 20)
            #expect(Set(stored.map(\.subnet)) == Set(leases.map(\.subnet)))
        }
    }

    /// flock conflicts between open file descriptions, whoever holds them, so a holder on its own
    /// descriptor stands in for another daemon (store.sh races real daemons across processes). A
    /// separate /usr/bin/flock process proved too slow to start reliably while CI builds run.
    @Test func waitsWhileAnotherHolderHasTheLock() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            try writeText("", to: fixture.storePath + ".lock")
            let fd = open(fixture.storePath + ".lock", O_RDWR | O_CLOEXEC)
            #expect(fd >= 0)
            #expect(flock(fd, LOCK_EX) == 0)
            #expect(Self.lockIsHeld(fixture.storePath + ".lock"))
            let release = Task {
                try? await Task.sleep(for: .milliseconds(800))
                close(fd)
            }
            let start = ContinuousClock.now
            _ = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                       ttl: .seconds(60))
            #expect(ContinuousClock.now - start >= .milliseconds(500))
            _ = await release.value
        }
    }

    static func lockIsHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    @Test func corruptStoreIsReportedAndLeftUntouched() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            for garbage in ["{\"subnets\": {\"10.5.1.0-24\": ", "[1,2,3]",
                            #"{"subnets":{"10.5.1.0-24":{"value":"not a lease","expiration":"2999-01-01T00:00:00Z"}}}"#] {
                try writeText(garbage, to: fixture.storePath)
                let store = fixture.store()
                for attempt in 0..<3 {
                    do {
                        switch attempt {
                        case 0: _ = try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"),
                                                                 subnetFileSubnet: nil, ttl: .seconds(60))
                        case 1: _ = try await store.leases()
                        default:
                            let lease = Lease(subnet: subnet("10.5.1.0/24"), attributes: Self.vxlan("192.0.2.1"),
                                              expiration: Date())
                            _ = try await store.renewLease(lease, ttl: .seconds(60))
                        }
                        Issue.record("accepted a corrupt store: \(garbage)")
                    } catch {
                        guard case .corruptStore(let path, _) = error as? LeaseStoreError else {
                            Issue.record("unexpected error \(error)")
                            continue
                        }
                        #expect(path == fixture.storePath)
                        #expect("\(error)".contains(fixture.storePath))
                    }
                    #expect(readBytes(fixture.storePath) == Array(garbage.utf8))
                }
            }
        }
    }

    @Test func missingNetworkConfigNamesThePath() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir, config: nil)
            let store = fixture.store()
            await #expect {
                try await store.acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil, ttl: .seconds(60))
            } throws: { error in
                guard case .configMissing(let location, let fix) = error as? LeaseStoreError else { return false }
                return location == fixture.configPath && fix.contains("Network")
            }
            #expect(readBytes(fixture.storePath) == nil)
        }
    }

    @Test func invalidNetworkConfigNamesThePathAndTheRule() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir, config: #"{"Network":"10.5.0.0/16","SubnetLen":40}"#)
            await #expect {
                try await fixture.store().networkConfig()
            } throws: { error in
                guard case .invalidConfig(let location, let configError) = error as? LeaseStoreError else { return false }
                return location == fixture.configPath && configError.field == "SubnetLen"
                    && "\(error)".contains(fixture.configPath) && "\(error)".contains("SubnetLen")
            }
        }
    }

    @Test func configChangeDropsTheNodesOldLease() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let old = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                             ttl: .seconds(60))
            try writeText(#"{"Network":"10.5.0.0/16","SubnetLen":25}"#, to: fixture.configPath)
            let new = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                             ttl: .seconds(60))
            #expect(new.subnet.prefixLength == 25)
            #expect(try await fixture.store().leases() == [new])
            #expect(!old.subnet.contains(new.subnet.address))
        }
    }

    @Test func otherEntriesSurviveOurWrites() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            let foreign = #"{"PublicIP":"10.0.0.7","PublicIPv6":null,"BackendType":"host-gw"}"#
            let text = """
                {"version": 1, "subnets": {"10.5.7.0-24": {"value": \(JSONValue.string(foreign).serialized()), "expiration": "2999-01-01T00:00:00Z"}}}
                """
            try writeText(text, to: fixture.storePath)
            let mine = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"),
                                                              subnetFileSubnet: subnet("10.5.7.0/24"), ttl: .seconds(60))
            #expect(mine.subnet != subnet("10.5.7.0/24"))
            let leases = try await fixture.store().leases()
            #expect(leases.count == 2)
            #expect(leases.first { $0.subnet == subnet("10.5.7.0/24") }?.attributes.backendType == "host-gw")
        }
    }

    @Test func anEmptyStoreFileIsAnEmptyStore() async throws {
        try await withTemporaryDirectory { dir throws in
            let fixture = try Fixture(dir)
            try writeText("", to: fixture.storePath)
            #expect(try await fixture.store().leases().isEmpty)
            _ = try await fixture.store().acquireLease(attributes: Self.vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                       ttl: .seconds(60))
            #expect(try await fixture.store().leases().count == 1)
        }
    }

    @Test func expirationArithmetic() {
        let now = Date(timeIntervalSince1970: 1000)
        #expect(EmbeddedLeaseStore.expiration(from: now, ttl: .milliseconds(1500))
            == Date(timeIntervalSince1970: 1001.5))
        #expect(EmbeddedLeaseStore.expiration(from: now, ttl: .seconds(86400))
            == Date(timeIntervalSince1970: 87400))
    }
}
