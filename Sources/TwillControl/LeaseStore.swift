import TwillWire

/// Where nodes record their subnet leases: the embedded single-machine store, or etcd. Both keep
/// flannel's data model (config + one lease per subnet with a TTL) so they behave alike.
public protocol LeaseStore: Sendable {
    /// The overlay's network config, validated.
    func networkConfig() async throws -> NetworkConfig

    /// Every unexpired lease.
    func leases() async throws -> [Lease]

    /// Reuses this node's lease or creates one in flannel's choice order; retries lost races.
    func acquireLease(attributes: LeaseAttributes, subnetFileSubnet: IPv4Subnet?, ttl: Duration) async throws -> Lease

    /// Extends the lease (same subnet); throws LeaseStoreError.leaseLost if it is gone or taken.
    func renewLease(_ lease: Lease, ttl: Duration) async throws -> Lease

    /// Yields the full set of unexpired leases at once and on every change; ends on cancellation.
    func watchLeases() -> AsyncThrowingStream<[Lease], Error>
}
