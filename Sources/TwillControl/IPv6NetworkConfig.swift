import TwillWire

/// The IPv6 half of a dual-stack network config (flannel's `IPv6Network`, `IPv6SubnetLen`,
/// `IPv6SubnetMin`, `IPv6SubnetMax`) with flannel's defaults applied and its rules checked.
public struct IPv6NetworkConfig: Sendable, Equatable {
    /// The whole IPv6 overlay network (host bits cleared).
    public let network: IPv6Subnet
    /// The prefix length of each node's IPv6 subnet.
    public let subnetLength: Int
    /// The lowest and highest IPv6 subnet network addresses a node may lease (inclusive).
    public let subnetMin: IPv6Address
    public let subnetMax: IPv6Address

    /// Each node needs a few addresses (bridge, VTEP), and the network room for four subnets.
    public static let longestNetworkPrefix = 122
    public static let longestSubnetLength = 124
    /// flannel's default node subnet, when the network is big enough for four of them.
    public static let defaultSubnetLength = 64

    /// Applies flannel's defaults and rules. `subnetLength` 0 and nil bounds mean "default".
    public init(network: IPv6Subnet, subnetLength: Int = 0, subnetMin: IPv6Address? = nil,
                subnetMax: IPv6Address? = nil) throws(ConfigError) {
        guard network.prefixLength <= IPv6NetworkConfig.longestNetworkPrefix else {
            throw ConfigError(field: "IPv6Network", rule: "must be a /\(IPv6NetworkConfig.longestNetworkPrefix) "
                + "or larger (got /\(network.prefixLength)): every node needs a subnet of at least 16 addresses "
                + "and the IPv6Network room for at least 4 subnets")
        }
        let length: Int
        if subnetLength == 0 {
            // A /64 per node (what SLAAC and most tools expect) when 4 fit, else a quarter of the network.
            length = network.prefixLength <= IPv6NetworkConfig.defaultSubnetLength - 2
                ? IPv6NetworkConfig.defaultSubnetLength : network.prefixLength + 2
        } else {
            let lowest = network.prefixLength + 2
            guard subnetLength >= lowest && subnetLength <= IPv6NetworkConfig.longestSubnetLength else {
                throw ConfigError(field: "IPv6SubnetLen", rule: "must be at least the IPv6Network prefix + 2 "
                    + "(\(lowest)) and at most \(IPv6NetworkConfig.longestSubnetLength) (got \(subnetLength)); "
                    + "0 picks the default")
            }
            length = subnetLength
        }
        let sizeMinusOne = IPv6Subnet.sizeMinusOne(prefixLength: length)
        // As for IPv4, the first subnet is skipped by default: its address is the network's own.
        let min = subnetMin ?? IPv6Address(value: network.address.value + sizeMinusOne + 1)
        let max = subnetMax ?? IPv6Address(value: network.lastAddress.value - sizeMinusOne)
        try IPv6NetworkConfig.checkBound("IPv6SubnetMin", min, network: network, length: length)
        try IPv6NetworkConfig.checkBound("IPv6SubnetMax", max, network: network, length: length)
        guard min <= max else {
            throw ConfigError(field: "IPv6SubnetMax", rule: "must not be below IPv6SubnetMin \(min) (got \(max))")
        }
        self.network = network
        self.subnetLength = length
        self.subnetMin = min
        self.subnetMax = max
    }

    private static func checkBound(_ field: String, _ address: IPv6Address, network: IPv6Subnet,
                                   length: Int) throws(ConfigError) {
        guard network.contains(address) else {
            throw ConfigError(field: field, rule: "must be inside IPv6Network \(network) (got \(address))")
        }
        // IPv6Subnet clears the host bits, so a changed address was not aligned.
        let aligned = IPv6Subnet(address: address, prefixLength: length)!.address
        guard aligned == address else {
            throw ConfigError(field: field, rule: "must be the start of a /\(length) subnet (IPv6SubnetLen) "
                + "(got \(address); the nearest below is \(aligned))")
        }
    }

    /// The number of addresses in each node's subnet, minus one (a /0 would not fit otherwise).
    var subnetSizeMinusOne: UInt128 { IPv6Subnet.sizeMinusOne(prefixLength: subnetLength) }

    /// Whether a lease's IPv6 subnet fits: inside IPv6Network, of IPv6SubnetLen, within Min..Max.
    public func fits(_ subnet: IPv6Subnet) -> Bool {
        subnet.prefixLength == subnetLength && network.contains(subnet)
            && subnet.address >= subnetMin && subnet.address <= subnetMax
    }
}
