import TwillWire

/// Chooses a node's subnet the way flannel does, as pure logic so every store shares it and tests can
/// pin the randomness.
public struct SubnetAllocator: Sendable {
    public enum Choice: Sendable, Equatable {
        /// The node already holds this lease (matched by public IP): renew it.
        case reuse(Lease)
        /// Create a lease on this free subnet.
        case new(IPv4Subnet)

        public var subnet: IPv4Subnet {
            switch self {
            case .reuse(let lease): lease.subnet
            case .new(let subnet): subnet
            }
        }
    }

    /// flannel picks at random among the first 100 free subnets, so racing nodes rarely collide.
    public static let candidateLimit = 100

    public let config: NetworkConfig

    public init(config: NetworkConfig) { self.config = config }

    /// In flannel's order: (1) a lease whose PublicIP is `publicIP` and that fits the config; (2) the
    /// subnet from the subnet file, if it fits and no lease overlaps it; (3) a random one among the
    /// first `candidateLimit` free subnets from SubnetMin upward. `leases` must be the unexpired ones.
    public func choose<G: RandomNumberGenerator>(leases: [Lease], publicIP: IPv4Address,
                                                 subnetFileSubnet: IPv4Subnet?,
                                                 using generator: inout G) throws(LeaseStoreError) -> Choice {
        if let own = ownLease(of: publicIP, in: leases) { return .reuse(own) }
        if let previous = subnetFileSubnet, config.fits(previous),
           !leases.contains(where: { SubnetAllocator.overlap($0.subnet, previous) }) {
            return .new(previous)
        }
        let free = freeSubnets(leases: leases, limit: SubnetAllocator.candidateLimit)
        guard let pick = free.randomElement(using: &generator) else {
            throw .noFreeSubnet(min: config.subnetMin, max: config.subnetMax, subnetLength: config.subnetLength)
        }
        return .new(pick)
    }

    public func choose(leases: [Lease], publicIP: IPv4Address,
                       subnetFileSubnet: IPv4Subnet?) throws(LeaseStoreError) -> Choice {
        var generator = SystemRandomNumberGenerator()
        return try choose(leases: leases, publicIP: publicIP, subnetFileSubnet: subnetFileSubnet, using: &generator)
    }

    /// This node's reusable lease; the most recently renewed one if there are several.
    public func ownLease(of publicIP: IPv4Address, in leases: [Lease]) -> Lease? {
        leases.filter { $0.attributes.publicIP == publicIP && config.fits($0.subnet) }
            .min { ($0.expiration, $0.subnet) > ($1.expiration, $1.subnet) }
    }

    /// This node's leases that no longer fit the config (after a config change); flannel deletes them
    /// so a node never holds two subnets.
    public func staleLeases(of publicIP: IPv4Address, in leases: [Lease]) -> [Lease] {
        leases.filter { $0.attributes.publicIP == publicIP && !config.fits($0.subnet) }
    }

    /// Up to `limit` subnets from SubnetMin upward that no lease overlaps. Leases of any length count,
    /// so leases left from an older SubnetLen still block what they cover.
    public func freeSubnets(leases: [Lease], limit: Int) -> [IPv4Subnet] {
        // Taken address ranges, merged, so one pass can skip whole runs of leased subnets.
        var taken: [(start: UInt64, end: UInt64)] = []
        let ranges = leases.map { (UInt64($0.subnet.address.value), UInt64($0.subnet.lastAddress.value)) }
        for range in ranges.sorted(by: <) {
            if let last = taken.last, range.0 <= last.end + 1 {
                taken[taken.count - 1].end = max(last.end, range.1)
            } else {
                taken.append((range.0, range.1))
            }
        }
        let size = UInt64(config.subnetSize)
        let maxStart = UInt64(config.subnetMax.value)
        var candidate = UInt64(config.subnetMin.value)
        var next = 0
        var free: [IPv4Subnet] = []
        while candidate <= maxStart && free.count < limit {
            while next < taken.count && taken[next].end < candidate { next += 1 }
            if next < taken.count && taken[next].start <= candidate + size - 1 {
                // Jump to the first aligned subnet after this taken run.
                candidate = (taken[next].end + size) & ~(size - 1)
                continue
            }
            if let subnet = IPv4Subnet(address: IPv4Address(UInt32(candidate)), prefixLength: config.subnetLength) {
                free.append(subnet)
            }
            candidate += size
        }
        return free
    }

    static func overlap(_ a: IPv4Subnet, _ b: IPv4Subnet) -> Bool { a.contains(b.address) || b.contains(a.address) }
}
