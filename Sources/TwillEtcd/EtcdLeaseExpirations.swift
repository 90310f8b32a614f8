import Foundation
import Synchronization

/// When each etcd lease ends, learned from /v3/lease/timetolive and cached. flannel and Twill renew by
/// granting a new lease, so a lease's expiry normally never moves; but etcd extends every lease when a
/// new leader takes over (after an outage, say), so a cached expiry that has passed is asked again
/// before anyone treats the lease as gone.
final class EtcdLeaseExpirations: Sendable {
    private let known = Mutex<[Int64: Date]>([:])

    /// Lookups in flight at once, so a first listing of thousands of leases does not open thousands
    /// of connections.
    static let concurrency = 16

    /// Records a lease this process granted itself: no lookup needed.
    func record(_ leaseID: Int64, expiration: Date) { known.withLock { $0[leaseID] = expiration } }

    /// Keeps only `leaseIDs`, so leases that are gone do not pile up.
    func retain(_ leaseIDs: Set<Int64>) { known.withLock { $0 = $0.filter { leaseIDs.contains($0.key) } } }

    var count: Int { known.withLock { $0.count } }

    /// The expiration of every lease in `leaseIDs`; a lease etcd no longer knows gets distantPast.
    func expirations(of leaseIDs: Set<Int64>, client: EtcdClient) async throws -> [Int64: Date] {
        let now = Date()
        var result = known.withLock { cache in cache.filter { leaseIDs.contains($0.key) && $0.value > now } }
        let missing = leaseIDs.subtracting(result.keys).sorted()
        guard !missing.isEmpty else { return result }
        try await withThrowingTaskGroup(of: (Int64, Date).self) { group in
            var next = 0
            func addLookup() {
                let id = missing[next]
                next += 1
                group.addTask { (id, try await EtcdLeaseExpirations.lookUp(id, client: client)) }
            }
            while next < missing.count && next < EtcdLeaseExpirations.concurrency { addLookup() }
            while let (id, expiration) = try await group.next() {
                result[id] = expiration
                if next < missing.count { addLookup() }
            }
        }
        let fetched = result
        known.withLock { cache in
            for id in missing { cache[id] = fetched[id] }
        }
        return result
    }

    private static func lookUp(_ leaseID: Int64, client: EtcdClient) async throws -> Date {
        // Taken before asking: etcd rounds the TTL left down to whole seconds, so the estimate errs early.
        let asked = Date()
        do {
            let reply = try await client.call("/v3/lease/timetolive", EtcdRequest.timeToLive(leaseID: leaseID))
            return reply.ttl < 0 ? .distantPast : asked + Double(reply.ttl)
        } catch let error as EtcdError {
            guard case .server(_, EtcdError.notFound, _) = error else { throw error }
            return .distantPast
        }
    }
}
