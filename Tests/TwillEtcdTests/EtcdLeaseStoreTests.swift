import TwillTestSupport
import Foundation
import Synchronization
import Testing
import TwillControl
@testable import TwillEtcd
import TwillWire

/// Against real etcd servers started per test (see EtcdTestCluster).
@Suite(.enabled(if: etcdAvailable, "needs /usr/bin/etcd and /usr/bin/etcdctl (Debian: etcd-server, etcd-client)"))
struct EtcdLeaseStoreTests {
    static let flannelValue =
        #"{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#

    @Test func missingConfigNamesTheKeyAndTheEtcdctlCommand() async throws {
        try await EtcdTestCluster.with { cluster in
            try await withStore(try cluster.store()) { store in
                let error = await #expect(throws: LeaseStoreError.self) { try await store.networkConfig() }
                guard case .configMissing(let location, let fix)? = error else {
                    Issue.record("expected configMissing, got \(String(describing: error))")
                    return
                }
                #expect(location == "etcd key /coreos.com/network/config")
                #expect(fix.contains(#"etcdctl put /coreos.com/network/config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'"#))
                #expect(error?.description.contains("no network config at etcd key /coreos.com/network/config") == true)
                // Acquiring needs the config too, and says the same.
                await #expect(throws: LeaseStoreError.configMissing(where: location, fix: fix)) {
                    try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                 ttl: .seconds(60))
                }
            }
        }
    }

    @Test func invalidConfigNamesTheKeyAndTheRule() async throws {
        try await EtcdTestCluster.with { cluster in
            try await withStore(try cluster.store(prefix: "/twill/net/")) { store in
                try await cluster.putConfig(#"{"Network":"10.5.0.0/30"}"#, prefix: "/twill/net")
                let error = await #expect(throws: LeaseStoreError.self) { try await store.networkConfig() }
                guard case .invalidConfig(let location, let rule)? = error else {
                    Issue.record("expected invalidConfig, got \(String(describing: error))")
                    return
                }
                #expect(location == "etcd key /twill/net/config")
                #expect(rule.field == "Network")
                try await cluster.putConfig("not json", prefix: "/twill/net")
                let malformed = await #expect(throws: LeaseStoreError.self) { try await store.networkConfig() }
                guard case .invalidConfig(location, let jsonRule)? = malformed else {
                    Issue.record("expected invalidConfig, got \(String(describing: malformed))")
                    return
                }
                #expect(jsonRule.field == "JSON")
                #expect(malformed?.description.contains("etcd key /twill/net/config") == true)
                try await cluster.putConfig(network16, prefix: "/twill/net")
                #expect(try await store.networkConfig().network == subnet("10.5.0.0/16"))
            }
        }
    }

    @Test func writeNetworkConfigValidatesThenWrites() async throws {
        try await EtcdTestCluster.with { cluster in
            try await withStore(try cluster.store()) { store in
                let bad = await #expect(throws: LeaseStoreError.self) {
                    try await store.writeNetworkConfig(#"{"Network":"10.5.0.0/30"}"#)
                }
                #expect(bad?.description.contains("/coreos.com/network/config") == true)
                #expect(try await cluster.etcdctl(["get", "/coreos.com/network/config"]).isEmpty)
                let written = try await store.writeNetworkConfig(network16)
                #expect(written.network == subnet("10.5.0.0/16"))
                let stored = try await cluster.etcdctl(["get", "/coreos.com/network/config", "--print-value-only"])
                #expect(stored.trimmingCharacters(in: .newlines) == network16)
                #expect(try await store.networkConfig() == written)
            }
        }
    }

    @Test func acquireWritesFlannelsKeyAndValue() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStore(try cluster.store()) { store in
                let before = Date()
                let lease = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                #expect(try await store.networkConfig().fits(lease.subnet))
                #expect(lease.expiration >= before + 599 && lease.expiration <= Date() + 601)
                let key = "/coreos.com/network/subnets/\(lease.subnet.address)-24"
                #expect(store.key(for: lease.subnet) == key)
                let value = try await cluster.etcdctl(["get", key, "--print-value-only"])
                #expect(value.trimmingCharacters(in: .newlines) == Self.flannelValue)
                let listed = try await store.leases()
                #expect(listed.map(\.subnet) == [lease.subnet])
                #expect(listed.first?.attributes == vxlan("192.0.2.1"))
                // The TTL comes from etcd: within a few seconds of the one granted.
                let expiration = try #require(listed.first?.expiration)
                #expect(abs(expiration.timeIntervalSince(lease.expiration)) < 3)
            }
        }
    }

    @Test func sameNodeReusesItsLeaseAndUpdatesChangedAttributes() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStores([try cluster.store(), try cluster.store()]) { stores in
                let first = try await stores[0].acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                             ttl: .seconds(600))
                let oldLeaseID = try await etcdLeaseID(cluster, stores[0].key(for: first.subnet))
                // A restarted daemon (another instance) with a new VTEP MAC gets the same subnet.
                let newMAC = vxlan("192.0.2.1", mac: "02:00:00:00:00:07")
                let again = try await stores[1].acquireLease(attributes: newMAC, subnetFileSubnet: nil,
                                                             ttl: .seconds(600))
                #expect(again.subnet == first.subnet)
                #expect(try await stores[1].leases().map(\.attributes) == [newMAC])
                // Re-put under a new etcd lease; the old one is revoked.
                let newLeaseID = try await etcdLeaseID(cluster, stores[0].key(for: first.subnet))
                #expect(newLeaseID != oldLeaseID)
                #expect(try await etcdLeaseTTL(cluster, oldLeaseID) == -1)
            }
        }
    }

    @Test func renewGrantsANewEtcdLeaseAndRevokesTheOld() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStore(try cluster.store()) { store in
                let lease = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(30))
                let key = store.key(for: lease.subnet)
                let oldLeaseID = try await etcdLeaseID(cluster, key)
                let renewed = try await store.renewLease(lease, ttl: .seconds(600))
                #expect(renewed.subnet == lease.subnet)
                #expect(renewed.expiration > lease.expiration + 500)
                let newLeaseID = try await etcdLeaseID(cluster, key)
                #expect(newLeaseID != oldLeaseID)
                #expect(try await etcdLeaseTTL(cluster, oldLeaseID) == -1)
                #expect(try await etcdLeaseTTL(cluster, newLeaseID) > 590)
                let value = try await cluster.etcdctl(["get", key, "--print-value-only"])
                #expect(value.trimmingCharacters(in: .newlines) == Self.flannelValue)
            }
        }
    }

    @Test func aLeaseThatIsNotRenewedExpires() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStore(try cluster.store()) { store in
                let lease = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(3))
                #expect(try await store.leases().count == 1)
                let gone = try await eventually(timeout: .seconds(10)) {
                    try await cluster.etcdctl(["get", store.key(for: lease.subnet), "--print-value-only"]).isEmpty
                }
                #expect(gone)
                #expect(try await store.leases().isEmpty)
                await #expect(throws: LeaseStoreError.leaseLost(lease.subnet)) {
                    try await store.renewLease(lease, ttl: .seconds(3))
                }
            }
        }
    }

    @Test func ownKeyDeletedMeansLeaseLostThenTheSameSubnetAgain() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStores([try cluster.store(), try cluster.store()]) { stores in
                let store = stores[0]
                let lease = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                try await cluster.etcdctl(["del", store.key(for: lease.subnet)])
                await #expect(throws: LeaseStoreError.leaseLost(lease.subnet)) {
                    try await store.renewLease(lease, ttl: .seconds(600))
                }
                // The store remembers the subnet, so even without a subnet-file hint it comes back.
                let again = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                #expect(again.subnet == lease.subnet)
                // A fresh instance (a restarted daemon) gets it back through the subnet-file hint.
                try await cluster.etcdctl(["del", store.key(for: lease.subnet)])
                let restarted = try await stores[1].acquireLease(attributes: vxlan("192.0.2.1"),
                                                                 subnetFileSubnet: lease.subnet, ttl: .seconds(600))
                #expect(restarted.subnet == lease.subnet)
                // A key taken over by another node is lost too.
                let otherNode = #"{"PublicIP":"192.0.2.9","PublicIPv6":null}"#
                try await cluster.etcdctl(["put", store.key(for: lease.subnet), otherNode])
                await #expect(throws: LeaseStoreError.leaseLost(lease.subnet)) {
                    try await store.renewLease(restarted, ttl: .seconds(600))
                }
            }
        }
    }

    @Test func watchSeesAnotherClientsLeaseAppearAndExpire() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStores([try cluster.store(), try cluster.store()]) { stores in
                let own = try await stores[0].acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                           ttl: .seconds(600))
                let recorder = WatchRecorder.start(stores[0].watchLeases())
                defer { recorder.cancel() }
                #expect(await eventually { recorder.latest?.map(\.subnet) == [own.subnet] })
                let other = try await stores[1].acquireLease(attributes: vxlan("192.0.2.2", mac: "02:00:00:00:00:02"),
                                                             subnetFileSubnet: nil, ttl: .seconds(3))
                #expect(await eventually { recorder.latest?.contains { $0.subnet == other.subnet } == true })
                let seen = try #require(recorder.latest?.first { $0.subnet == other.subnet })
                #expect(seen.attributes == other.attributes)
                #expect(abs(seen.expiration.timeIntervalSince(other.expiration)) < 3)
                // Not renewed: etcd expires it, and the watch reports the DELETE.
                #expect(await eventually(timeout: .seconds(10)) { recorder.latest?.map(\.subnet) == [own.subnet] })
                recorder.cancel()
                #expect(await eventually { recorder.finished })
            }
        }
    }

    @Test func aFlanneldLeaseReadsBackAsVXLANWithItsMAC() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            let grant = try await cluster.etcdctl(["lease", "grant", "600"])
            // "lease 694d7a1b1c2d3e4f granted with TTL(600s)"
            let leaseHex = try #require(grant.split(separator: " ").dropFirst().first)
            try await cluster.etcdctl(["put", "--lease", String(leaseHex), "/coreos.com/network/subnets/10.5.52.0-24",
                                 Self.flannelValue])
            try await withStore(try cluster.store()) { store in
                let leases = try await store.leases()
                #expect(leases.count == 1)
                let lease = try #require(leases.first)
                #expect(lease.subnet == subnet("10.5.52.0/24"))
                #expect(lease.attributes.format == .vxlan)
                #expect(lease.attributes.vtepMAC == mac("c6:d2:32:6f:8f:44"))
                #expect(lease.attributes.vni == 1)
                #expect(lease.attributes.publicIP == ip("192.0.2.1"))
                #expect(lease.expiration > Date() + 590 && lease.expiration < Date() + 601)
                // This node (same public IP) takes the flanneld lease over rather than a second subnet.
                let taken = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                #expect(taken.subnet == subnet("10.5.52.0/24"))
            }
        }
    }

    @Test func twentyClientsRacingNeverShareASubnet() async throws {
        try await EtcdTestCluster.with { cluster in
            // A /25 in /30s: 31 leasable subnets (the first is skipped) for 20 nodes.
            try await cluster.putConfig(#"{"Network":"10.10.0.0/25","SubnetLen":30,"Backend":{"Type":"vxlan"}}"#)
            let capture = LogCapture()
            let stores = try (0..<20).map { _ in
                try cluster.store(logger: capture.logger, requestTimeout: .seconds(10))
            }
            // Every node claims the same subnet-file subnet at once, so most lose the first round.
            let hint = subnet("10.10.0.64/30")
            let leases = try await withStores(stores) { stores in
                try await withThrowingTaskGroup(of: Lease.self) { group in
                    for (index, store) in stores.enumerated() {
                        group.addTask {
                            try await store.acquireLease(attributes: vxlan("192.0.2.\(index + 1)"),
                                                         subnetFileSubnet: hint, ttl: .seconds(600))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(leases.count == 20)
            #expect(Set(leases.map(\.subnet)).count == 20)
            try await withStore(try cluster.store()) { store in
                let listed = try await store.leases()
                #expect(listed.count == 20)
                #expect(Set(listed.map(\.subnet)).count == 20)
                #expect(Set(listed.map(\.attributes.publicIP)).count == 20)
            }
            #expect(capture.count(containing: "another node took the subnet first") >= 1)
        }
    }

    @Test func aLostCreateRaceIsLoggedAndRetriedWithAFreshChoice() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            let capture = LogCapture()
            let stolen = Mutex<IPv4Subnet?>(nil)
            // Another "node" takes the chosen subnet between the choice and the create, once.
            let store = try cluster.store(logger: capture.logger) { chosen in
                let first = stolen.withLock { value -> Bool in
                    defer { if value == nil { value = chosen } }
                    return value == nil
                }
                if first {
                    _ = try? await cluster.etcdctl(["put", "/coreos.com/network/subnets/\(chosen.address)-24",
                                              #"{"PublicIP":"192.0.2.200","PublicIPv6":null}"#])
                }
            }
            try await withStore(store) { store in
                let hint = subnet("10.5.77.0/24")
                let lease = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: hint,
                                                         ttl: .seconds(600))
                #expect(stolen.withLock { $0 } == hint)
                #expect(lease.subnet != hint)
                let retries = capture.all.filter { $0.message.contains("another node took the subnet first") }
                #expect(retries.count == 1)
                #expect(retries.first?.metadata["attempt"] == "1/10")
                #expect(retries.first?.metadata["subnet"] == "10.5.77.0/24")
                #expect(retries.first?.level == .warning)
                // The lease granted for the lost attempt was revoked: only the winner's and ours remain.
                let leaseList = try await cluster.etcdctl(["lease", "list"])
                #expect(leaseList.contains("found 1 leases"))
            }
        }
    }

    @Test func unreachableEtcdIsAClearErrorNamingTheEndpoints() async throws {
        let endpoints = ["http://127.0.0.1:\(freePort())", "127.0.0.1:\(freePort())"]
        let store = try EtcdLeaseStore(endpoints: endpoints, logger: quietLogger, requestTimeout: .seconds(20))
        try await withStore(store) { store in
            let started = ContinuousClock.now
            let error = await #expect(throws: LeaseStoreError.self) { try await store.networkConfig() }
            guard case .io(let path, let reason)? = error else {
                Issue.record("expected io, got \(String(describing: error))")
                return
            }
            #expect(path == "etcd " + store.endpoints.joined(separator: ","))
            #expect(store.endpoints[1].hasPrefix("http://127.0.0.1:"))
            #expect(reason.contains("no endpoint answered"))
            #expect(reason.lowercased().contains("refused"))
            // A refused connect fails at once rather than waiting out the timeout (generous bound: the
            // other tests load both cores meanwhile).
            #expect(ContinuousClock.now - started < .seconds(10))
            await #expect(throws: LeaseStoreError.self) {
                try await store.renewLease(Lease(subnet: subnet("10.5.1.0/24"), attributes: vxlan("192.0.2.1"),
                                                 expiration: Date()), ttl: .seconds(60))
            }
        }
    }

    @Test func threeMembersWithOneKilledKeepWorkingThroughFailover() async throws {
        try await EtcdTestCluster.with(size: 3) { cluster in
            try await cluster.putConfig(network16)
            // The store prefers its first endpoint: make that a follower, so killing it tests failover
            // and not a leader election.
            let leader = try await cluster.leader()
            let followers = cluster.members.filter { $0.name != leader.name }
            let order = [followers[0].clientURL, leader.clientURL, followers[1].clientURL]
            let capture = LogCapture()
            try await withStores([try cluster.store(logger: capture.logger, endpoints: order),
                                  try cluster.store(endpoints: order)]) { stores in
                let lease = try await stores[0].acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                             ttl: .seconds(600))
                let recorder = WatchRecorder.start(stores[0].watchLeases())
                defer { recorder.cancel() }
                #expect(await eventually { recorder.latest?.count == 1 })
                cluster.kill(followers[0])
                let renewed = try await stores[0].renewLease(lease, ttl: .seconds(600))
                #expect(renewed.subnet == lease.subnet)
                #expect(try await stores[0].leases().map(\.subnet) == [lease.subnet])
                let other = try await stores[1].acquireLease(attributes: vxlan("192.0.2.2"), subnetFileSubnet: nil,
                                                             ttl: .seconds(600))
                #expect(other.subnet != lease.subnet)
                // The watch reconnects to a live member and sees the new lease.
                #expect(await eventually { recorder.latest?.count == 2 })
                #expect(capture.count(containing: "using etcd endpoint \(leader.clientURL)") >= 1)
            }
        }
    }

    @Test func watchThatFellBehindCompactionListsAgain() async throws {
        try await EtcdTestCluster.with(size: 3) { cluster in
            try await cluster.putConfig(network16)
            // A follower, so cutting it off needs no leader election (slow on a loaded two-core machine).
            let leader = try await cluster.leader()
            let watched = try #require(cluster.members.first { $0.name != leader.name })
            let others = cluster.members.filter { $0.name != watched.name }.map(\.clientURL)
            let capture = LogCapture()
            // The watcher talks only to member 0; the writer to the others.
            try await withStores([try cluster.store(logger: capture.logger, endpoints: [watched.clientURL]),
                                  try cluster.store(endpoints: others)]) { stores in
                let first = try await stores[1].acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                             ttl: .seconds(600))
                let recorder = WatchRecorder.start(stores[0].watchLeases())
                defer { recorder.cancel() }
                #expect(await eventually { recorder.latest?.map(\.subnet) == [first.subnet] })
                cluster.kill(watched)
                // While the watcher is cut off: one lease goes, another comes, and history is compacted.
                try await cluster.etcdctl(["del", stores[1].key(for: first.subnet)], endpoints: others)
                let second = try await stores[1].acquireLease(attributes: vxlan("192.0.2.2"), subnetFileSubnet: nil,
                                                              ttl: .seconds(600))
                let status = try await cluster.etcdctl(["endpoint", "status", "-w", "json"], endpoints: [others[0]])
                let revision = try #require(status.firstMatch(of: /"revision":(\d+)/).map { String($0.1) })
                try await cluster.etcdctl(["compaction", revision], endpoints: others)
                try cluster.restart(watched)
                #expect(await eventually(timeout: .seconds(20)) { recorder.latest?.map(\.subnet) == [second.subnet] })
                #expect(capture.count(containing: "fell behind etcd's compaction") >= 1)
                #expect(capture.count(containing: "lease watch interrupted") >= 1)
            }
        }
    }

    @Test func tlsWithClientCertificatesWorks() async throws {
        try await EtcdTestCluster.with(tls: true) { cluster in
            try await cluster.putConfig(network16)
            #expect(cluster.endpoints[0].hasPrefix("https://"))
            try await withStore(try cluster.store()) { store in
                let lease = try await store.acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                #expect(try await store.leases().map(\.subnet) == [lease.subnet])
                let recorder = WatchRecorder.start(store.watchLeases())
                defer { recorder.cancel() }
                #expect(await eventually { recorder.latest?.map(\.subnet) == [lease.subnet] })
            }
        }
    }

    @Test func tlsWithTheWrongCAIsRefusedWithAClearError() async throws {
        try await EtcdTestCluster.with(tls: true) { cluster in
            let certificates = try #require(cluster.tls)
            let wrong = EtcdTLS(caFile: certificates.otherCAFile, certFile: certificates.clientCert,
                                keyFile: certificates.clientKey)
            try await withStore(try cluster.store(tls: wrong)) { store in
                let error = await #expect(throws: LeaseStoreError.self) { try await store.networkConfig() }
                guard case .io(let path, let reason)? = error else {
                    Issue.record("expected io, got \(String(describing: error))")
                    return
                }
                #expect(path.contains(cluster.endpoints[0]))
                #expect(reason.contains("TLS"))
                #expect(reason.contains("certificate"))
            }
            // Plain HTTP to a TLS port fails as clearly.
            let plain = cluster.endpoints[0].replacingOccurrences(of: "https://", with: "http://")
            try await withStore(try EtcdLeaseStore(endpoints: [plain], logger: quietLogger,
                                                   requestTimeout: .seconds(2))) { store in
                await #expect(throws: LeaseStoreError.self) { try await store.networkConfig() }
            }
        }
    }

    @Test func usernameAndPasswordAuthentication() async throws {
        // A one-second token TTL makes the token expire between requests, exercising re-authentication.
        try await EtcdTestCluster.with(extraArguments: ["--auth-token", "simple", "--auth-token-ttl", "1"]) { cluster in
            try await cluster.putConfig(network16)
            try await cluster.etcdctl(["user", "add", "root:secret"])
            try await cluster.etcdctl(["auth", "enable"])
            let capture = LogCapture()
            try await withStores([try cluster.store(logger: capture.logger, username: "root", password: "secret"),
                                  try cluster.store(),
                                  try cluster.store(username: "root", password: "wrong")]) { stores in
                let lease = try await stores[0].acquireLease(attributes: vxlan("192.0.2.1"), subnetFileSubnet: nil,
                                                             ttl: .seconds(600))
                let recorder = WatchRecorder.start(stores[0].watchLeases())
                defer { recorder.cancel() }
                #expect(await eventually { recorder.latest?.map(\.subnet) == [lease.subnet] })
                try await Task.sleep(for: .seconds(2.5))
                // The token has expired: the store authenticates again by itself.
                let authenticationsBefore = capture.count(containing: "authenticated to etcd")
                let renewed = try await stores[0].renewLease(lease, ttl: .seconds(600))
                #expect(renewed.subnet == lease.subnet)
                #expect(capture.count(containing: "authenticated to etcd") > authenticationsBefore)

                let anonymous = await #expect(throws: LeaseStoreError.self) { try await stores[1].networkConfig() }
                #expect(anonymous?.description.contains("give a username and password") == true)
                let wrong = await #expect(throws: LeaseStoreError.self) { try await stores[2].networkConfig() }
                #expect(wrong?.description.contains("check the etcd username and password") == true)
            }
            try await cluster.etcdctl(["--user", "root:secret", "auth", "disable"])
        }
    }
}

/// The etcd lease ID (hex, as etcdctl prints it) that `key` is attached to.
func etcdLeaseID(_ cluster: EtcdTestCluster, _ key: String) async throws -> Int64 {
    let output = try await cluster.etcdctl(["get", key, "-w", "json"])
    guard let match = output.firstMatch(of: /"lease":(\d+)/), let id = Int64(match.1) else {
        throw TestFailure("no lease on \(key): \(output)")
    }
    return id
}

/// The seconds left on an etcd lease; -1 when it is gone.
func etcdLeaseTTL(_ cluster: EtcdTestCluster, _ id: Int64) async throws -> Int {
    let output = try await cluster.etcdctl(["lease", "timetolive", String(id, radix: 16)])
    if output.contains("already expired") { return -1 }
    guard let match = output.firstMatch(of: /remaining\((-?\d+)s\)/), let ttl = Int(match.1) else {
        throw TestFailure("unexpected timetolive output: \(output)")
    }
    return ttl
}

/// The store's pure helpers, which need no etcd.
@Suite struct EtcdLeaseStoreHelperTests {
    @Test func ttlsRoundUpToWholeSecondsOfAtLeastOne() {
        #expect(EtcdLeaseStore.ttlSeconds(.seconds(86400)) == 86400)
        #expect(EtcdLeaseStore.ttlSeconds(.milliseconds(1500)) == 2)
        #expect(EtcdLeaseStore.ttlSeconds(.zero) == 1)
        #expect(EtcdLeaseStore.ttlSeconds(.milliseconds(-5)) == 1)
    }

    @Test func retryPausesGrowButStayUnderASecond() {
        for _ in 0..<200 {
            #expect(EtcdLeaseStore.retryPause(after: 1) < .milliseconds(20))
            #expect(EtcdLeaseStore.retryPause(after: 3) < .milliseconds(80))
            #expect(EtcdLeaseStore.retryPause(after: 9) < .seconds(1))
        }
    }

    @Test func theFirstAttemptIsFlannelsChoiceAndRetriesWidenThePool() throws {
        let allocator = SubnetAllocator(config: try NetworkConfig(jsonString: #"{"Network":"10.0.0.0/12"}"#))
        var first = Set<IPv4Subnet>()
        var later = Set<IPv4Subnet>()
        for _ in 0..<300 {
            first.insert(try EtcdLeaseStore.choose(allocator, leases: [], publicIP: ip("192.0.2.1"),
                                                   subnetFileSubnet: nil, attempt: 1).subnet)
            later.insert(try EtcdLeaseStore.choose(allocator, leases: [], publicIP: ip("192.0.2.1"),
                                                   subnetFileSubnet: nil, attempt: 3).subnet)
        }
        // flannel picks among the first 100 free subnets (10.0.1.0 .. 10.0.100.0); the third attempt
        // among 1,600.
        #expect(first.allSatisfy { $0.address.value < ip("10.0.101.0").value })
        #expect(later.contains { $0.address.value >= ip("10.0.101.0").value })
        // A free subnet-file subnet and this node's own lease still come first on every attempt.
        let hint = subnet("10.10.0.0/24")
        #expect(try EtcdLeaseStore.choose(allocator, leases: [], publicIP: ip("192.0.2.1"), subnetFileSubnet: hint,
                                          attempt: 4) == .new(hint))
        let own = Lease(subnet: subnet("10.0.7.0/24"), attributes: vxlan("192.0.2.1"), expiration: .distantFuture)
        #expect(try EtcdLeaseStore.choose(allocator, leases: [own], publicIP: ip("192.0.2.1"), subnetFileSubnet: hint,
                                          attempt: 2) == .reuse(own))
    }

    @Test func byteSearch() {
        #expect(EtcdLeaseStore.contains(Array(#"{"PublicIP":"10.0.0.1"}"#.utf8), Array(#""10.0.0.1""#.utf8)))
        #expect(!EtcdLeaseStore.contains(Array(#"{"PublicIP":"10.0.0.11"}"#.utf8), Array(#""10.0.0.1""#.utf8)))
        #expect(!EtcdLeaseStore.contains([], Array("a".utf8)))
        #expect(EtcdLeaseStore.contains(Array("a".utf8), []))
    }

    @Test func keysFollowThePrefix() throws {
        let store = try EtcdLeaseStore(endpoints: ["127.0.0.1:2379"], prefix: "/twill/net/", logger: quietLogger)
        #expect(store.prefix == "/twill/net")
        #expect(store.configKey == "/twill/net/config")
        #expect(store.subnetsPrefix == "/twill/net/subnets/")
        #expect(store.key(for: subnet("10.5.52.0/24")) == "/twill/net/subnets/10.5.52.0-24")
        #expect(store.endpoints == ["http://127.0.0.1:2379"])
        // Not shut down on purpose: the store's deinit closes the HTTP client instead of trapping.
    }
}
