import Foundation
import Testing
@testable import TwillEtcd

@Suite(.enabled(if: etcdAvailable)) struct EtcdLeaseExpirationsTests {
    @Test func looksUpEachLeaseOnceAndForgetsWhatIsGone() async throws {
        try await EtcdTestCluster.with { cluster in
            let client = try EtcdClient(endpoints: cluster.endpoints, tls: nil, username: nil, password: nil,
                                        requestTimeout: .seconds(2), logger: quietLogger)
            let expirations = EtcdLeaseExpirations()
            do {
                var ids: [Int64] = []
                for ttl in [100, 200] {
                    let reply = try await client.call("/v3/lease/grant", EtcdRequest.grant(ttlSeconds: Int64(ttl)))
                    ids.append(reply.leaseID)
                }
                let unknown: Int64 = 12345
                let now = Date()
                let found = try await expirations.expirations(of: Set(ids + [unknown]), client: client)
                // etcd reports whole seconds left; a loaded machine adds seconds between grant and lookup.
                #expect(abs(try #require(found[ids[0]]).timeIntervalSince(now + 100)) < 10)
                #expect(abs(try #require(found[ids[1]]).timeIntervalSince(now + 200)) < 10)
                #expect(found[unknown] == .distantPast)
                #expect(expirations.count == 3)
                // Cached: a revoked lease keeps its cached expiration (leases are never extended, only replaced).
                _ = try await client.call("/v3/lease/revoke", EtcdRequest.revoke(leaseID: ids[0]))
                #expect(try await expirations.expirations(of: [ids[0]], client: client)[ids[0]] == found[ids[0]])
                expirations.retain([ids[1]])
                #expect(expirations.count == 1)
                #expect(try await expirations.expirations(of: [ids[0]], client: client)[ids[0]] == .distantPast)
                let recorded = Date() + 50
                expirations.record(77, expiration: recorded)
                #expect(try await expirations.expirations(of: [77], client: client)[77] == recorded)
                // A cached expiry that has passed is asked again: etcd extends every lease when a new leader
                // takes over (after an outage), and such a lease must not be taken for gone.
                expirations.record(ids[1], expiration: Date(timeIntervalSince1970: 5))
                let refreshed = try #require(try await expirations.expirations(of: [ids[1]], client: client)[ids[1]])
                #expect(abs(refreshed.timeIntervalSince(now + 200)) < 5)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}
