import TwillWire

/// Chooses a node's subnet the way flannel does, as pure logic so every store shares it and tests can
/// pin the randomness.
public struct SubnetAllocator: Sendable {
    public enum Choice: Sendable, Equatable {
        /// The node already holds this lease (matched by public IP): renew it.
        case reuse(Lease)
        /// Create a lease on this free subnet (and this free IPv6 subnet, in a dual-stack overlay).
        case new(IPv4Subnet, v6: IPv6Subnet? = nil)

        public var subnet: IPv4Subnet {
            switch self {
            case .reuse(let lease): lease.subnet
            case .new(let subnet, _): subnet
            }
        }

        public var subnetV6: IPv6Subnet? {
            switch self {
            case .reuse(let lease): lease.subnetV6
            case .new(_, let v6): v6
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
    ///
    /// With IPv6 in the config every choice is a pair: (1) needs the lease's IPv6 half to fit, (2) needs
    /// both subnet-file subnets to fit and be free, and (3) picks among free pairs (see `freePairs`).
    public func choose<G: RandomNumberGenerator>(leases: [Lease], publicIP: IPv4Address,
                                                 subnetFileSubnet: IPv4Subnet?, subnetFileSubnetV6: IPv6Subnet? = nil,
                                                 using generator: inout G) throws(LeaseStoreError) -> Choice {
        if let own = ownLease(of: publicIP, in: leases) { return .reuse(own) }
        // Without IPv6 in the config the file's IPv6 subnet plays no part.
        let previousV6 = config.ipv6 == nil ? nil : subnetFileSubnetV6
        if let previous = subnetFileSubnet, config.fits(previous, v6: previousV6),
           !leases.contains(where: {
               SubnetAllocator.overlap($0.subnet, previous) || SubnetAllocator.overlap($0.subnetV6, previousV6)
           }) {
            return .new(previous, v6: previousV6)
        }
        guard let pick = freeChoices(leases: leases, limit: SubnetAllocator.candidateLimit).randomElement(using: &generator)
        else {
            // The IPv4 range is named also in a dual-stack overlay: it is the one operators widen first,
            // and flannel reports it alike.
            throw .noFreeSubnet(min: config.subnetMin, max: config.subnetMax, subnetLength: config.subnetLength)
        }
        return pick
    }

    /// Up to `limit` new leases to choose from: free subnets, or free pairs in a dual-stack overlay.
    public func freeChoices(leases: [Lease], limit: Int) -> [Choice] {
        guard config.ipv6 != nil else { return freeSubnets(leases: leases, limit: limit).map { .new($0) } }
        return freePairs(leases: leases, limit: limit).map { .new($0.v4, v6: $0.v6) }
    }

    public func choose(leases: [Lease], publicIP: IPv4Address, subnetFileSubnet: IPv4Subnet?,
                       subnetFileSubnetV6: IPv6Subnet? = nil) throws(LeaseStoreError) -> Choice {
        var generator = SystemRandomNumberGenerator()
        return try choose(leases: leases, publicIP: publicIP, subnetFileSubnet: subnetFileSubnet,
                          subnetFileSubnetV6: subnetFileSubnetV6, using: &generator)
    }

    /// This node's reusable lease; the most recently renewed one if there are several.
    public func ownLease(of publicIP: IPv4Address, in leases: [Lease]) -> Lease? {
        leases.filter { $0.attributes.publicIP == publicIP && config.fits($0.subnet, v6: $0.subnetV6) }
            .min { ($0.expiration, $0.subnet) > ($1.expiration, $1.subnet) }
    }

    /// This node's leases that no longer fit the config (after a config change, or an IPv4-only lease
    /// once IPv6 is on); flannel deletes them so a node never holds two subnets.
    public func staleLeases(of publicIP: IPv4Address, in leases: [Lease]) -> [Lease] {
        leases.filter { $0.attributes.publicIP == publicIP && !config.fits($0.subnet, v6: $0.subnetV6) }
    }

    /// Up to `limit` subnets from SubnetMin upward that no lease overlaps. Leases of any length count,
    /// so leases left from an older SubnetLen still block what they cover.
    public func freeSubnets(leases: [Lease], limit: Int) -> [IPv4Subnet] {
        let taken = SubnetAllocator.merged(leases.map {
            (UInt64($0.subnet.address.value), UInt64($0.subnet.lastAddress.value))
        })
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

    /// Up to `limit` free pairs, flannel's way: from SubnetMin and IPv6SubnetMin upward together, the
    /// i-th IPv4 subnet with the i-th IPv6 subnet, free when no lease overlaps either half. Empty
    /// without IPv6 in the config.
    public func freePairs(leases: [Lease], limit: Int) -> [(v4: IPv4Subnet, v6: IPv6Subnet)] {
        guard let ipv6 = config.ipv6 else { return [] }
        let taken4 = SubnetAllocator.merged(leases.map {
            (UInt128($0.subnet.address.value), UInt128($0.subnet.lastAddress.value))
        })
        let taken6 = SubnetAllocator.merged(leases.compactMap { lease in
            lease.subnetV6.map { ($0.address.value, $0.lastAddress.value) }
        })
        let size4MinusOne = UInt128(config.subnetSize - 1)
        let min4 = UInt128(config.subnetMin.value)
        let size6MinusOne = ipv6.subnetSizeMinusOne
        let min6 = ipv6.subnetMin.value
        // Index by index; both ranges end where the shorter one does.
        let count = min((UInt128(config.subnetMax.value) - min4) / (size4MinusOne + 1),
                        (ipv6.subnetMax.value - min6) / (size6MinusOne + 1)) + 1
        var index: UInt128 = 0
        var next4 = 0
        var next6 = 0
        var free: [(v4: IPv4Subnet, v6: IPv6Subnet)] = []
        while index < count && free.count < limit {
            let start4 = min4 + index * (size4MinusOne + 1)
            while next4 < taken4.count && taken4[next4].end < start4 { next4 += 1 }
            if next4 < taken4.count && taken4[next4].start <= start4 + size4MinusOne {
                // Jump past this taken run: the first index whose subnet starts after it.
                index = (taken4[next4].end - min4) / (size4MinusOne + 1) + 1
                continue
            }
            let start6 = min6 + index * (size6MinusOne + 1)
            while next6 < taken6.count && taken6[next6].end < start6 { next6 += 1 }
            if next6 < taken6.count && taken6[next6].start <= start6 + size6MinusOne {
                index = (taken6[next6].end - min6) / (size6MinusOne + 1) + 1
                continue
            }
            if let v4 = IPv4Subnet(address: IPv4Address(UInt32(start4)), prefixLength: config.subnetLength),
               let v6 = IPv6Subnet(address: IPv6Address(value: start6), prefixLength: ipv6.subnetLength) {
                free.append((v4, v6))
            }
            index += 1
        }
        return free
    }

    /// Address ranges sorted and merged, so a walk can skip whole runs of taken subnets.
    private static func merged<T: FixedWidthInteger>(_ ranges: [(T, T)]) -> [(start: T, end: T)] {
        var taken: [(start: T, end: T)] = []
        for range in ranges.sorted(by: <) {
            if let last = taken.last, last.end == .max || range.0 <= last.end + 1 {
                taken[taken.count - 1].end = max(last.end, range.1)
            } else {
                taken.append((range.0, range.1))
            }
        }
        return taken
    }

    static func overlap(_ a: IPv4Subnet, _ b: IPv4Subnet) -> Bool { a.contains(b.address) || b.contains(a.address) }

    /// A missing IPv6 half overlaps nothing.
    static func overlap(_ a: IPv6Subnet?, _ b: IPv6Subnet?) -> Bool {
        guard let a, let b else { return false }
        return a.contains(b.address) || b.contains(a.address)
    }
}
