import Foundation
import TwillControl

/// The watch's picture of `<prefix>/subnets/`: a listing with watch events applied to it.
struct EtcdLeaseSet: Sendable, Equatable {
    private(set) var entries: [String: EtcdLeaseEntry] = [:]

    init(_ entries: [EtcdLeaseEntry] = []) {
        for entry in entries { self.entries[entry.key] = entry }
    }

    /// Applies one event; false for keys that are not subnet keys (nothing changed).
    @discardableResult
    mutating func apply(_ event: EtcdWatchEvent) -> Bool {
        let key = event.kv.keyString
        if event.isDelete { return entries.removeValue(forKey: key) != nil }
        guard let entry = EtcdLeaseEntry(event.kv) else { return false }
        entries[key] = entry
        return true
    }

    /// The etcd leases behind the keys (0, a key without TTL, left out).
    var etcdLeases: Set<Int64> { Set(entries.values.map(\.etcdLease).filter { $0 != 0 }) }

    /// The unexpired, readable leases in subnet order. `expirations` maps etcd lease IDs to when they
    /// end; a key without a lease never expires, and one whose lease is unknown is left out.
    func leases(expirations: [Int64: Date], now: Date = Date()) -> [Lease] {
        entries.values.compactMap { entry -> Lease? in
            let expiration: Date
            if entry.etcdLease == 0 {
                expiration = .distantFuture
            } else {
                guard let known = expirations[entry.etcdLease] else { return nil }
                expiration = known
            }
            guard expiration > now else { return nil }
            return entry.lease(expiration: expiration)
        }.sorted { $0.subnet < $1.subnet }
    }
}
