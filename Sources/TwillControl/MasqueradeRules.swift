import TwillWire

/// flannel's `--ip-masq` rules as an nftables ruleset in a table of Twill's own (`ip twill`), so
/// nothing else on the host is touched and removing the table removes exactly what was added.
///
/// Postrouting (source NAT), first match wins:
/// 1. packets marked by kube-proxy (0x4000) are left to kube-proxy, which masquerades them itself;
/// 2. Network to Network (pod to pod, on this host or across the overlay) keeps its addresses;
/// 3. from outside the Network into this host's own subnet keeps its addresses (the pods see the
///    real client);
/// 4. from the Network to anywhere outside it, multicast excepted, is masqueraded;
/// 5. from outside the Network to another host's subnet is masqueraded, so the packet enters the
///    overlay with this host's address and the receiving host accepts it as ours.
///
/// Forward: traffic from or to the Network is accepted (flannel's forward rules).
public struct MasqueradeRules: Sendable, Equatable {
    public static let family = "ip"
    public static let table = "twill"
    /// kube-proxy's masquerade mark (its `--masquerade-bit` 14).
    public static let kubeProxyMark: UInt32 = 0x4000
    public static let multicast = IPv4Subnet(address: IPv4Address(224, 0, 0, 0), prefixLength: 4)!

    public let network: IPv4Subnet
    public let subnet: IPv4Subnet

    public init(network: IPv4Subnet, subnet: IPv4Subnet) {
        self.network = network
        self.subnet = subnet
    }

    /// The table's contents: two base chains, postrouting (nat, srcnat) and forward (filter).
    public var tableBody: String {
        let mark = "0x" + String(MasqueradeRules.kubeProxyMark, radix: 16)
        return """
            table \(MasqueradeRules.family) \(MasqueradeRules.table) {
            \tchain postrouting {
            \t\ttype nat hook postrouting priority srcnat; policy accept;
            \t\tmeta mark & \(mark) == \(mark) return
            \t\tip saddr \(network) ip daddr \(network) return
            \t\tip saddr != \(network) ip daddr \(subnet) return
            \t\tip saddr \(network) ip daddr != \(MasqueradeRules.multicast) masquerade fully-random
            \t\tip saddr != \(network) ip daddr \(network) masquerade fully-random
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t\tip saddr \(network) accept
            \t\tip daddr \(network) accept
            \t}
            }

            """
    }

    /// The input for `nft -f -`: one transaction that creates the table if missing, deletes it and
    /// adds it whole, so applying it any number of times leaves exactly one copy of each rule, and
    /// a failure leaves the previous state untouched.
    public var applyScript: String {
        """
        table \(MasqueradeRules.family) \(MasqueradeRules.table) {}
        delete table \(MasqueradeRules.family) \(MasqueradeRules.table)
        \(tableBody)
        """
    }

    /// The arguments of `nft` that remove the table.
    public static let deleteArguments = ["delete", "table", family, table]
    /// The arguments of `nft` that print the table (to notice changes made by others).
    public static let listArguments = ["list", "table", family, table]
}
