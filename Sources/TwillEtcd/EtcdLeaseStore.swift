import Foundation
import Logging
import Synchronization
import TwillControl
import TwillWire

/// The lease store on etcd v3, through etcd's JSON gateway, in flannel's schema: flanneld and twilld
/// nodes can share one etcd and see each other's leases.
///
/// - `<prefix>/config` holds the network config; `<prefix>/subnets/10.5.52.0-24` one lease each
///   (`10.5.52.0-24&fc00:0:0:34::-64` in a dual-stack overlay), valued with flannel's lease JSON and
///   attached to an etcd lease that carries its TTL.
/// - A new lease is flannel's Grant + "create if version is 0" transaction; a lost race is retried
///   with a fresh choice (flanneld exits there instead).
/// - Renewal grants a new etcd lease and re-puts the key only if it still holds our value, then
///   revokes the old etcd lease.
/// - Expirations come from /v3/lease/timetolive, once per etcd lease (see EtcdLeaseExpirations); the
///   leases this process grants are known without asking.
///
/// Call `shutdown()` when done: it closes the HTTP connections.
public final class EtcdLeaseStore: LeaseStore {
    /// The key prefix, without a trailing slash (flanneld's --etcd-prefix).
    public let prefix: String
    let client: EtcdClient
    private let logger: Logger
    private let expirations = EtcdLeaseExpirations()
    /// The subnets each public IP last held through this store: the re-acquire after a lost lease asks
    /// for them again even when the caller has no subnet file.
    private let lastSubnets = Mutex<[IPv4Address: (v4: IPv4Subnet, v6: IPv6Subnet?)]>([:])
    /// Unreadable lease values already logged (key and revision), so each is reported once.
    private let reportedUnreadable = Mutex<Set<String>>([])
    /// Runs between choosing a free subnet and the create transaction; tests use it to lose a race
    /// deterministically.
    private let beforeCreate: (@Sendable (IPv4Subnet) async -> Void)?

    /// flannel's attempt count; Twill retries a lost race where flannel exits.
    public static let maximumAttempts = 10
    /// Watch reconnection backoff, doubling from the first to the second (flannel's values).
    public static let watchBackoff: (first: Duration, limit: Duration) = (.milliseconds(100), .seconds(5))

    /// - Parameters:
    ///   - endpoints: etcd client URLs (`http://10.0.0.1:2379`); comma-separated lists are split.
    ///     The one that answered last is tried first; the others on connection failure.
    ///   - tls: CA and client certificate files, for https endpoints.
    ///   - username, password: for etcd with authentication enabled.
    ///   - requestTimeout: per request and per endpoint, including the connect.
    /// - Throws: LeaseStoreError.io for a malformed endpoint or an unreadable TLS file.
    public convenience init(endpoints: [String], prefix: String = "/coreos.com/network", tls: EtcdTLS? = nil,
                            username: String? = nil, password: String? = nil, logger: Logger,
                            requestTimeout: Duration = .seconds(5)) throws(LeaseStoreError) {
        try self.init(endpoints: endpoints, prefix: prefix, tls: tls, username: username, password: password,
                      logger: logger, requestTimeout: requestTimeout, beforeCreate: nil)
    }

    init(endpoints: [String], prefix: String, tls: EtcdTLS?, username: String?, password: String?, logger: Logger,
         requestTimeout: Duration, beforeCreate: (@Sendable (IPv4Subnet) async -> Void)?) throws(LeaseStoreError) {
        self.prefix = EtcdKey.normalizedPrefix(prefix)
        self.logger = logger
        self.beforeCreate = beforeCreate
        client = try EtcdClient(endpoints: endpoints, tls: tls, username: username, password: password,
                                requestTimeout: requestTimeout, logger: logger)
    }

    /// Closes the HTTP client; the store must not be used afterwards. Calling it twice is harmless.
    public func shutdown() async throws { try await client.shutdown() }

    /// The endpoints as used (with scheme, without trailing slash).
    public var endpoints: [String] { client.endpoints }

    public var configKey: String { prefix + "/config" }

    public var subnetsPrefix: String { prefix + "/subnets/" }

    public func key(for subnet: IPv4Subnet) -> String { subnetsPrefix + Lease.key(for: subnet) }

    public func key(for subnet: IPv4Subnet, v6: IPv6Subnet?) -> String { subnetsPrefix + Lease.key(for: subnet, v6: v6) }

    // MARK: Config

    public func networkConfig() async throws -> NetworkConfig {
        let reply = try await etcd { try await client.call("/v3/kv/range", EtcdRequest.range(key: bytes(configKey))) }
        let location = "etcd key \(configKey)"
        guard let kv = reply.kvs.first else {
            throw LeaseStoreError.configMissing(where: location, fix: "write flannel's network config JSON there "
                + "with etcd's v3 API, for example: etcdctl put \(configKey) "
                + #"'{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'"#
                + " (add --endpoints=\(endpoints.joined(separator: ",")) when etcd is not local; a key written "
                + "with the v2 API, etcdctl set, is invisible to v3)")
        }
        do {
            return try NetworkConfig(json: Data(kv.value))
        } catch {
            throw LeaseStoreError.invalidConfig(where: location, error)
        }
    }

    /// Validates flannel's config JSON and writes it to `<prefix>/config` (what `etcdctl put` does
    /// in the operator's setup); a config that breaks a rule is refused with invalidConfig and not
    /// written.
    @discardableResult
    public func writeNetworkConfig(_ json: String) async throws -> NetworkConfig {
        let config: NetworkConfig
        do {
            config = try NetworkConfig(jsonString: json)
        } catch {
            throw LeaseStoreError.invalidConfig(where: "the config for etcd key \(configKey)", error)
        }
        let request = EtcdRequest.put(key: bytes(configKey), value: bytes(json))
        _ = try await etcd { try await client.call("/v3/kv/put", request) }
        logger.notice("wrote the network config", metadata: ["key": "\(configKey)", "config": "\(json)"])
        return config
    }

    // MARK: Reading leases

    public func leases() async throws -> [Lease] {
        let listing = try await list()
        reportUnreadable(listing.entries)
        let set = EtcdLeaseSet(listing.entries)
        return try await unexpiredLeases(set)
    }

    /// Every subnet key, and the revision the listing is valid at. `keysOnly` leaves the values out
    /// (enough to know which subnets are taken); `parseValue` says which values to parse.
    private func list(keysOnly: Bool = false, parseValue: (EtcdKeyValue) -> Bool = { _ in true })
        async throws -> (revision: Int64, entries: [EtcdLeaseEntry]) {
        let start = bytes(subnetsPrefix)
        let request = EtcdRequest.range(key: start, rangeEnd: EtcdKey.rangeEnd(forPrefix: start), keysOnly: keysOnly)
        let reply = try await etcd { try await client.call("/v3/kv/range", request) }
        let entries = reply.kvs.compactMap { EtcdLeaseEntry($0, parseValue: !keysOnly && parseValue($0)) }
        return (reply.revision, entries)
    }

    private func unexpiredLeases(_ set: EtcdLeaseSet) async throws -> [Lease] {
        let ids = set.etcdLeases
        let known = try await etcd { try await expirations.expirations(of: ids, client: client) }
        expirations.retain(ids)
        return set.leases(expirations: known)
    }

    private func reportUnreadable(_ entries: [EtcdLeaseEntry]) {
        for entry in entries where entry.attributes == nil {
            let first = reportedUnreadable.withLock { $0.insert("\(entry.key)@\(entry.modRevision)").inserted }
            guard first else { continue }
            var problem = "unreadable"
            do {
                _ = try LeaseAttributes(json: Data(entry.value))
            } catch {
                problem = error.description
            }
            logger.warning("ignoring a lease whose value is not flannel's lease JSON; its subnet stays taken",
                           metadata: ["key": "\(entry.key)", "error": "\(problem)"])
        }
    }

    // MARK: Acquiring

    public func acquireLease(attributes: LeaseAttributes, subnetFileSubnet: IPv4Subnet?,
                             subnetFileSubnetV6: IPv6Subnet?, ttl: Duration) async throws -> Lease {
        let allocator = SubnetAllocator(config: try await networkConfig())
        let last = lastSubnets.withLock { $0[attributes.publicIP] }
        let hint = subnetFileSubnet ?? last?.v4
        let hintV6 = subnetFileSubnet == nil ? last?.v6 : subnetFileSubnetV6
        // A value can hold this node's PublicIP only if it contains the address as a JSON string; only
        // those are parsed.
        let quotedIP = Array("\"\(attributes.publicIP)\"".utf8)
        // After a lost create race this node is known to hold no lease: the keys alone will do.
        var holdsNoLease = false
        for attempt in 1...EtcdLeaseStore.maximumAttempts {
            let listing = try await list(keysOnly: holdsNoLease) { EtcdLeaseStore.contains($0.value, quotedIP) }
            let own = listing.entries.filter { $0.attributes?.publicIP == attributes.publicIP }
            // Only this node's leases need real expirations (to pick the newest); the rest only occupy.
            let ownLeaseIDs = Set(own.map(\.etcdLease).filter { $0 != 0 })
            let ownExpirations = try await etcd { try await expirations.expirations(of: ownLeaseIDs, client: client) }
            let current = listing.entries.map { entry -> Lease in
                var lease = entry.occupyingLease
                if entry.attributes?.publicIP == attributes.publicIP && entry.etcdLease != 0 {
                    lease.expiration = ownExpirations[entry.etcdLease] ?? .distantPast
                }
                return lease
            }
            for stale in allocator.staleLeases(of: attributes.publicIP, in: current) {
                guard let entry = own.first(where: { $0.subnet == stale.subnet }) else { continue }
                try await deleteStale(entry)
            }
            let choice = try EtcdLeaseStore.choose(allocator, leases: current, publicIP: attributes.publicIP,
                                                   subnetFileSubnet: hint, subnetFileSubnetV6: hintV6,
                                                   attempt: attempt)
            let attemptText = "\(attempt)/\(EtcdLeaseStore.maximumAttempts)"
            switch choice {
            case .reuse(let lease):
                guard let entry = own.first(where: { $0.subnet == lease.subnet }) else { continue }
                if let renewed = try await reuse(entry, attributes: attributes, ttl: ttl) {
                    remember(renewed)
                    return renewed
                }
                logger.warning("retrying: this node's lease changed while it was being reused",
                               metadata: ["subnet": "\(lease.subnet)", "attempt": "\(attemptText)"])
            case .new(let subnet, let subnetV6):
                holdsNoLease = true
                let keyText = Lease.key(for: subnet, v6: subnetV6)
                if let created = try await create(subnet, v6: subnetV6, attributes: attributes, ttl: ttl) {
                    remember(created)
                    logger.info("acquired a new lease",
                                metadata: ["subnet": "\(subnet)", "key": "\(keyText)", "attempt": "\(attemptText)"])
                    return created
                }
                let pause = EtcdLeaseStore.retryPause(after: attempt)
                logger.warning("retrying: another node took the subnet first; choosing again",
                               metadata: ["subnet": "\(subnet)", "key": "\(keyText)", "attempt": "\(attemptText)",
                                          "after": "\(pause)"])
                // Nodes that start together list the same free subnets: a random pause lets the next
                // listing see the winners, instead of colliding again at once.
                if attempt < EtcdLeaseStore.maximumAttempts { try await Task.sleep(for: pause) }
            }
        }
        logger.error("giving up: other nodes took the chosen subnet on every attempt",
                     metadata: ["attempts": "\(EtcdLeaseStore.maximumAttempts)"])
        throw LeaseStoreError.raceLost(attempts: EtcdLeaseStore.maximumAttempts)
    }

    /// flannel's choice on the first attempt. After a lost race the random pick is made among 4, 16,
    /// 64... times as many free subnets (flannel keeps 100): when hundreds of nodes start together, a
    /// fixed pool of 100 lets only about 100 of them win per round, and some run out of attempts.
    static func choose<G: RandomNumberGenerator>(
        _ allocator: SubnetAllocator, leases: [Lease], publicIP: IPv4Address, subnetFileSubnet: IPv4Subnet?,
        subnetFileSubnetV6: IPv6Subnet? = nil, attempt: Int, using generator: inout G
    ) throws(LeaseStoreError) -> SubnetAllocator.Choice {
        let choice = try allocator.choose(leases: leases, publicIP: publicIP, subnetFileSubnet: subnetFileSubnet,
                                          subnetFileSubnetV6: subnetFileSubnetV6, using: &generator)
        guard attempt > 1, case .new(let subnet, _) = choice, subnet != subnetFileSubnet else { return choice }
        let pool = SubnetAllocator.candidateLimit << (2 * min(attempt - 1, 6))
        return allocator.freeChoices(leases: leases, limit: pool).randomElement(using: &generator) ?? choice
    }

    static func choose(_ allocator: SubnetAllocator, leases: [Lease], publicIP: IPv4Address,
                       subnetFileSubnet: IPv4Subnet?, subnetFileSubnetV6: IPv6Subnet? = nil,
                       attempt: Int) throws(LeaseStoreError) -> SubnetAllocator.Choice {
        var generator = SystemRandomNumberGenerator()
        return try choose(allocator, leases: leases, publicIP: publicIP, subnetFileSubnet: subnetFileSubnet,
                          subnetFileSubnetV6: subnetFileSubnetV6, attempt: attempt, using: &generator)
    }

    /// Whether `needle` occurs in `haystack` (lease values are ~150 bytes: a plain scan is enough).
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
        for start in 0...(haystack.count - needle.count)
        where haystack[start] == needle[0] && haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }

    /// flannel's create: Grant, then put only if the key does not exist. nil when another node won.
    private func create(_ subnet: IPv4Subnet, v6: IPv6Subnet?, attributes: LeaseAttributes,
                        ttl: Duration) async throws -> Lease? {
        let grant = try await grantLease(ttl: ttl)
        await beforeCreate?(subnet)
        let request = EtcdRequest.create(key: bytes(key(for: subnet, v6: v6)), value: bytes(attributes.jsonString),
                                         leaseID: grant.id)
        let reply = try await transaction(request, revokingOnError: grant.id)
        // A request retried on another endpoint after its first try was applied finds its own lease.
        if reply.succeeded || reply.rangeResults.first?.lease == grant.id {
            return Lease(subnet: subnet, subnetV6: v6, attributes: attributes, expiration: grant.expiration)
        }
        await revokeQuietly(grant.id)
        return nil
    }

    /// Re-puts this node's existing key under a fresh etcd lease (full TTL again) and with the current
    /// attributes (a new VTEP MAC after a reboot, say), unless the key changed since it was listed.
    private func reuse(_ entry: EtcdLeaseEntry, attributes: LeaseAttributes, ttl: Duration) async throws -> Lease? {
        let value = bytes(attributes.jsonString)
        let grant = try await grantLease(ttl: ttl)
        let request = EtcdRequest.replace(key: bytes(entry.key), modRevision: entry.modRevision, value: value,
                                          leaseID: grant.id)
        let reply = try await transaction(request, revokingOnError: grant.id)
        guard reply.succeeded || reply.rangeResults.first?.lease == grant.id else {
            await revokeQuietly(grant.id)
            return nil
        }
        let replaced = reply.succeeded ? (reply.rangeResults.first?.lease ?? entry.etcdLease) : entry.etcdLease
        if replaced != 0 && replaced != grant.id { await revokeQuietly(replaced) }
        if entry.value != value {
            logger.info("reusing this node's lease with updated attributes",
                        metadata: ["subnet": "\(entry.subnet)", "key": "\(entry.key)",
                                   "value": "\(attributes.jsonString)"])
        } else {
            logger.info("reusing this node's lease",
                        metadata: ["subnet": "\(entry.subnet)", "key": "\(entry.key)"])
        }
        return Lease(subnet: entry.subnet, subnetV6: entry.subnetV6, attributes: attributes,
                     expiration: grant.expiration)
    }

    /// flannel deletes a node's leases that no longer fit the config, so a node never holds two.
    private func deleteStale(_ entry: EtcdLeaseEntry) async throws {
        logger.notice("dropping this node's lease that no longer fits the network config",
                      metadata: ["subnet": "\(entry.subnet)", "key": "\(entry.key)"])
        _ = try await transaction(EtcdRequest.delete(key: bytes(entry.key), modRevision: entry.modRevision),
                                  revokingOnError: nil)
        if entry.etcdLease != 0 { await revokeQuietly(entry.etcdLease) }
    }

    // MARK: Renewing

    public func renewLease(_ lease: Lease, ttl: Duration) async throws -> Lease {
        let grant = try await grantLease(ttl: ttl)
        // The lease's own key, dual stack or not: renewal never moves a lease.
        let request = EtcdRequest.renew(key: bytes(subnetsPrefix + lease.key), value: bytes(lease.attributes.jsonString),
                                        leaseID: grant.id)
        let reply = try await transaction(request, revokingOnError: grant.id)
        guard reply.succeeded || reply.rangeResults.first?.lease == grant.id else {
            await revokeQuietly(grant.id)
            logger.warning("lease lost: its key was deleted, expired or taken by another node",
                           metadata: ["subnet": "\(lease.subnet)"])
            throw LeaseStoreError.leaseLost(lease.subnet)
        }
        // On success the first range result is the key as it was before the put: its old etcd lease.
        if reply.succeeded, let replaced = reply.rangeResults.first?.lease, replaced != 0, replaced != grant.id {
            await revokeQuietly(replaced)
        }
        let renewed = Lease(subnet: lease.subnet, subnetV6: lease.subnetV6, attributes: lease.attributes,
                            expiration: grant.expiration)
        remember(renewed)
        logger.debug("renewed lease", metadata: ["subnet": "\(lease.subnet)"])
        return renewed
    }

    // MARK: Watching

    /// Lists `<prefix>/subnets/`, yields the set, then follows a watch from the listing's revision + 1,
    /// yielding the set after each batch of events that changes it. Reconnects with backoff (100 ms
    /// doubling to 5 s) and resumes from the next revision; when that revision has been compacted
    /// away, lists again and yields only if the set differs. Expired leases arrive as DELETE events.
    /// Only the newest set is buffered: each one replaces the last.
    public func watchLeases() -> AsyncThrowingStream<[Lease], Error> {
        let (stream, continuation) = AsyncThrowingStream<[Lease], Error>.makeStream(
            bufferingPolicy: .bufferingNewest(1))
        let task = Task { await self.followLeases(continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func followLeases(_ continuation: AsyncThrowingStream<[Lease], Error>.Continuation) async {
        let start = bytes(subnetsPrefix)
        let end = EtcdKey.rangeEnd(forPrefix: start)
        var set = EtcdLeaseSet()
        var reported: [Lease]?
        var nextRevision: Int64 = 0
        var needList = true
        // Set when etcd canceled the watch for compaction: list again at once, without backoff.
        var compacted = false
        // A change not yet yielded because its expirations could not be looked up.
        var owed = false
        var delay = EtcdLeaseStore.watchBackoff.first
        while !Task.isCancelled {
            do {
                if needList {
                    let listing = try await list()
                    reportUnreadable(listing.entries)
                    set = EtcdLeaseSet(listing.entries)
                    nextRevision = listing.revision + 1
                    needList = false
                    owed = true
                }
                if owed {
                    try await publish(set, reported: &reported, to: continuation)
                    owed = false
                }
                let request = EtcdRequest.watch(key: start, rangeEnd: end, startRevision: nextRevision)
                try await client.watch(request) { message in
                    if let error = message.errorMessage {
                        throw EtcdTransportFailure(reason: "the watch stream reported an error: \(error)"
                            + (message.errorCode.map { " (gRPC code \($0))" } ?? ""))
                    }
                    if message.created {
                        delay = EtcdLeaseStore.watchBackoff.first
                        logger.debug("watching leases", metadata: ["fromRevision": "\(nextRevision)"])
                    }
                    if message.canceled {
                        if message.compactRevision > 0 {
                            logger.notice("the lease watch fell behind etcd's compaction; listing again",
                                          metadata: ["compactRevision": "\(message.compactRevision)",
                                                     "wanted": "\(nextRevision)"])
                            needList = true
                            compacted = true
                        } else if message.cancelReason.contains("auth") || message.cancelReason.contains("user name") {
                            client.forgetToken()
                        }
                        throw EtcdTransportFailure(reason: "etcd canceled the watch"
                            + (message.cancelReason.isEmpty ? "" : ": \(message.cancelReason)"))
                    }
                    guard !message.events.isEmpty else { return }
                    for event in message.events {
                        set.apply(event)
                        nextRevision = max(nextRevision, event.kv.modRevision + 1)
                    }
                    reportUnreadable(message.events.compactMap { $0.isDelete ? nil : set.entries[$0.kv.keyString] })
                    owed = true
                    try await publish(set, reported: &reported, to: continuation)
                    owed = false
                }
                // A clean end (etcd stopping, a proxy timing out) waits too, so a server that keeps
                // closing at once is not hammered.
                logger.debug("etcd ended the lease watch; reconnecting", metadata: ["in": "\(delay)"])
            } catch {
                if Task.isCancelled || error is CancellationError { break }
                if compacted {
                    compacted = false
                    continue
                }
                logger.warning("lease watch interrupted; reconnecting",
                               metadata: ["error": "\(error)", "in": "\(delay)"])
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, EtcdLeaseStore.watchBackoff.limit)
        }
        continuation.finish()
    }

    private func publish(_ set: EtcdLeaseSet, reported: inout [Lease]?,
                         to continuation: AsyncThrowingStream<[Lease], Error>.Continuation) async throws {
        let current = try await unexpiredLeases(set)
        guard current != reported else { return }
        reported = current
        continuation.yield(current)
    }

    // MARK: etcd operations

    private func grantLease(ttl: Duration) async throws -> (id: Int64, expiration: Date) {
        // Taken before asking, so the expiration reported errs early rather than late.
        let asked = Date()
        let reply = try await etcd {
            try await client.call("/v3/lease/grant", EtcdRequest.grant(ttlSeconds: EtcdLeaseStore.ttlSeconds(ttl)))
        }
        guard reply.leaseID != 0 else {
            throw LeaseStoreError.io(path: "etcd " + endpoints.joined(separator: ","),
                                     reason: "the lease grant reply has no lease ID")
        }
        // etcd may raise a TTL below its minimum; the granted one is what counts.
        let expiration = asked + Double(max(reply.ttl, 1))
        expirations.record(reply.leaseID, expiration: expiration)
        return (reply.leaseID, expiration)
    }

    /// A transaction whose granted lease is revoked if the request fails, so it does not linger.
    private func transaction(_ body: Data, revokingOnError leaseID: Int64?) async throws -> EtcdReply {
        do {
            return try await etcd { try await client.call("/v3/kv/txn", body) }
        } catch {
            if let leaseID { await revokeQuietly(leaseID) }
            throw error
        }
    }

    /// Revocation is tidying only: a lease left behind expires on its own.
    private func revokeQuietly(_ leaseID: Int64) async {
        do {
            _ = try await client.call("/v3/lease/revoke", EtcdRequest.revoke(leaseID: leaseID))
        } catch {
            logger.debug("could not revoke an etcd lease; it will expire", metadata: ["lease": "\(leaseID)",
                                                                                     "error": "\(error)"])
        }
    }

    private func remember(_ lease: Lease) {
        lastSubnets.withLock { $0[lease.attributes.publicIP] = (lease.subnet, lease.subnetV6) }
    }

    /// A random pause before attempt `attempt + 1`: up to 20 ms after the first loss, doubling to at
    /// most 1 s, so ten attempts take a few seconds at worst.
    static func retryPause(after attempt: Int) -> Duration {
        let limit = min(10 << min(max(attempt, 1), 7), 1000)
        return .milliseconds(Int.random(in: 0..<limit))
    }

    /// etcd TTLs are whole seconds: round up, at least 1.
    static func ttlSeconds(_ ttl: Duration) -> Int64 {
        let (seconds, attoseconds) = ttl.components
        let whole = seconds + (attoseconds > 0 ? 1 : 0)
        return max(whole, 1)
    }

    /// Runs an etcd call, turning EtcdError into the operator-worded LeaseStoreError.
    private func etcd<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as EtcdError {
            throw error.leaseStoreError
        }
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
}
