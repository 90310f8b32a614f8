import Foundation
import Logging
import TwillWire

/// The single-machine lease store: one JSON file shared by every daemon on the machine, including
/// daemons in other network namespaces and other processes. Each change is a read-modify-write under
/// an exclusive flock on `path + ".lock"`, ending in an atomic replace, so concurrent daemons never
/// lose each other's leases or take one subnet twice.
///
/// It keeps no mutable state (everything lives in the file), so a final class of constants is
/// Sendable without locks of its own.
public final class EmbeddedLeaseStore: LeaseStore {
    public let path: String
    public let networkConfigPath: String
    public let pollInterval: Duration
    private let logger: Logger

    /// A daemon holds the lock for a few milliseconds; anything this long means a stuck process.
    static let lockTimeout: Duration = .seconds(30)

    public var lockPath: String { path + ".lock" }

    public init(path: String, networkConfigPath: String, pollInterval: Duration = .milliseconds(200),
                logger: Logger) {
        self.path = path
        self.networkConfigPath = networkConfigPath
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func networkConfig() async throws -> NetworkConfig { try loadNetworkConfig() }

    private func loadNetworkConfig() throws(LeaseStoreError) -> NetworkConfig {
        let bytes: [UInt8]?
        do {
            bytes = try AtomicFile.contents(of: networkConfigPath)
        } catch {
            throw .io(path: networkConfigPath, reason: "cannot \(error.operation) the network config: \(error.reason)")
        }
        guard let bytes else {
            throw .configMissing(where: networkConfigPath, fix: "write flannel's network config JSON there, for "
                + "example {\"Network\":\"10.5.0.0/16\",\"Backend\":{\"Type\":\"vxlan\"}}")
        }
        do {
            return try NetworkConfig(json: Data(bytes))
        } catch {
            throw .invalidConfig(where: networkConfigPath, error)
        }
    }

    public func leases() async throws -> [Lease] { try readFile().leases(unexpiredAt: Date()) }

    public func acquireLease(attributes: LeaseAttributes, subnetFileSubnet: IPv4Subnet?,
                             subnetFileSubnetV6: IPv6Subnet?, ttl: Duration) async throws -> Lease {
        let allocator = SubnetAllocator(config: try loadNetworkConfig())
        // Choosing and writing under one lock means no other daemon can take the subnet in between, so
        // the embedded store never loses the race that the etcd store has to retry.
        return try await FileLock.withExclusiveLock(lockPath, timeout: EmbeddedLeaseStore.lockTimeout) {
            var file = try readFile()
            let now = Date()
            dropExpired(from: &file, at: now)
            let current = file.leases(unexpiredAt: now)
            let choice = try allocator.choose(leases: current, publicIP: attributes.publicIP,
                                              subnetFileSubnet: subnetFileSubnet, subnetFileSubnetV6: subnetFileSubnetV6)
            for stale in allocator.staleLeases(of: attributes.publicIP, in: current) {
                logger.notice("dropping this node's lease that no longer fits the network config",
                              metadata: ["subnet": "\(stale.subnet)", "key": "\(stale.key)"])
                file.remove(stale.subnet)
            }
            let lease = Lease(subnet: choice.subnet, subnetV6: choice.subnetV6, attributes: attributes,
                              expiration: EmbeddedLeaseStore.expiration(from: now, ttl: ttl))
            file.set(lease)
            try write(file)
            switch choice {
            case .reuse:
                logger.info("reusing this node's lease",
                            metadata: ["subnet": "\(lease.subnet)", "key": "\(lease.key)"])
            case .new:
                logger.info("acquired a new lease",
                            metadata: ["subnet": "\(lease.subnet)", "key": "\(lease.key)"])
            }
            return lease
        }
    }

    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Lease {
        try await FileLock.withExclusiveLock(lockPath, timeout: EmbeddedLeaseStore.lockTimeout) {
            var file = try readFile()
            let now = Date()
            // An expired lease counts as gone even if nobody has rewritten the file yet: etcd would
            // have deleted the key, and both stores must behave alike.
            // A different IPv6 half is a different key: not this lease.
            guard let record = file.record(for: lease.subnet), !record.lease.isExpired(at: now),
                  record.lease.subnetV6 == lease.subnetV6,
                  record.lease.attributes.publicIP == lease.attributes.publicIP else {
                throw LeaseStoreError.leaseLost(lease.subnet)
            }
            dropExpired(from: &file, at: now)
            let renewed = Lease(subnet: lease.subnet, subnetV6: lease.subnetV6, attributes: lease.attributes,
                                expiration: EmbeddedLeaseStore.expiration(from: now, ttl: ttl))
            file.set(renewed)
            try write(file)
            logger.debug("renewed lease", metadata: ["subnet": "\(renewed.subnet)", "key": "\(renewed.key)"])
            return renewed
        }
    }

    /// Polls the file every pollInterval. The content is compared rather than the mtime, which is too
    /// coarse to tell apart two writes within a few milliseconds. Renewals alone (only the expiration
    /// changed) are not reported: nothing a consumer programs depends on them.
    public func watchLeases() -> AsyncThrowingStream<[Lease], Error> {
        let (stream, continuation) = AsyncThrowingStream<[Lease], Error>.makeStream()
        let task = Task {
            var lastBytes: [UInt8]?
            var file = LeaseFile()
            var reported: [Lease]?
            do {
                while true {
                    let bytes = try contents() ?? []
                    if bytes != lastBytes {
                        file = try LeaseFile(bytes: bytes, path: path)
                        lastBytes = bytes
                    }
                    let current = file.leases(unexpiredAt: Date())
                    if reported.map({ !EmbeddedLeaseStore.sameLeaseSet($0, current) }) ?? true {
                        continuation.yield(current)
                        reported = current
                    }
                    try await Task.sleep(for: pollInterval)
                }
            } catch is CancellationError {
                continuation.finish()
            } catch {
                logger.error("lease watch failed", metadata: ["error": "\(error)"])
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    static func sameLeaseSet(_ a: [Lease], _ b: [Lease]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy {
            $0.subnet == $1.subnet && $0.subnetV6 == $1.subnetV6 && $0.attributes == $1.attributes
        }
    }

    static func expiration(from now: Date, ttl: Duration) -> Date {
        let (seconds, attoseconds) = ttl.components
        return LeaseRecord.roundedToMilliseconds(now + Double(seconds) + Double(attoseconds) / 1e18)
    }

    private func contents() throws(LeaseStoreError) -> [UInt8]? {
        do {
            return try AtomicFile.contents(of: path)
        } catch {
            throw .io(path: path, reason: "cannot \(error.operation) the lease store: \(error.reason)")
        }
    }

    /// The store as it is on disk; a missing file is an empty store.
    private func readFile() throws(LeaseStoreError) -> LeaseFile {
        try LeaseFile(bytes: try contents() ?? [], path: path)
    }

    private func write(_ file: LeaseFile) throws(LeaseStoreError) {
        do {
            try AtomicFile.replace(path, with: file.bytes)
        } catch {
            throw .io(path: error.path, reason: "cannot \(error.operation) the lease store: \(error.reason)")
        }
    }

    private func dropExpired(from file: inout LeaseFile, at now: Date) {
        for lease in file.removeExpired(at: now) {
            logger.info("dropping expired lease", metadata: ["subnet": "\(lease.subnet)",
                                                            "publicIP": "\(lease.attributes.publicIP)"])
        }
    }
}
