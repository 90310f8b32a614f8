import TwillWire

/// Where nodes record their subnet leases: the embedded single-machine store, or etcd. Both keep
/// flannel's data model (config + one lease per subnet with a TTL) so they behave alike.
public protocol LeaseStore: Sendable {
    /// The overlay's network config, validated.
    func networkConfig() async throws -> NetworkConfig

    /// Every unexpired lease.
    func leases() async throws -> [Lease]

    /// Reuses this node's lease or creates one in flannel's choice order; retries lost races. With IPv6
    /// in the network config the lease is dual stack, and `subnetFileSubnetV6` (FLANNEL_IPV6_SUBNET) is
    /// asked for together with `subnetFileSubnet`.
    func acquireLease(attributes: LeaseAttributes, subnetFileSubnet: IPv4Subnet?, subnetFileSubnetV6: IPv6Subnet?,
                      ttl: Duration) async throws -> Lease

    /// Extends the lease (same key, so same subnets); throws LeaseStoreError.leaseLost if it is gone or taken.
    func renewLease(_ lease: Lease, ttl: Duration) async throws -> Lease

    /// Yields the full set of unexpired leases at once and on every change; ends on cancellation.
    func watchLeases() -> AsyncThrowingStream<[Lease], Error>
}

extension LeaseStore {
    /// The IPv4-only form, for callers without an IPv6 subnet file entry.
    public func acquireLease(attributes: LeaseAttributes, subnetFileSubnet: IPv4Subnet?,
                             ttl: Duration) async throws -> Lease {
        try await acquireLease(attributes: attributes, subnetFileSubnet: subnetFileSubnet, subnetFileSubnetV6: nil,
                               ttl: ttl)
    }
}
