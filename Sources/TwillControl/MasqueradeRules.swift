import TwillWire

/// flannel's `--ip-masq` rules as nftables rulesets in tables of Twill's own (`ip twill`, and in a
/// dual-stack overlay `ip6 twill` with the same rules over the IPv6 Network), so nothing else on the
/// host is touched and removing the tables removes exactly what was added.
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
    public static let familyV6 = "ip6"
    public static let table = "twill"
    /// kube-proxy's masquerade mark (its `--masquerade-bit` 14).
    public static let kubeProxyMark: UInt32 = 0x4000
    public static let multicast = IPv4Subnet(address: IPv4Address(224, 0, 0, 0), prefixLength: 4)!
    public static let multicastV6 = IPv6Subnet("ff00::/8")!

    public let network: IPv4Subnet
    public let subnet: IPv4Subnet
    /// The IPv6 Network and this host's IPv6 subnet in a dual-stack overlay.
    public let networkV6: IPv6Subnet?
    public let subnetV6: IPv6Subnet?

    public init(network: IPv4Subnet, subnet: IPv4Subnet, networkV6: IPv6Subnet? = nil, subnetV6: IPv6Subnet? = nil) {
        self.network = network
        self.subnet = subnet
        self.networkV6 = subnetV6 == nil ? nil : networkV6
        self.subnetV6 = networkV6 == nil ? nil : subnetV6
    }

    /// The families whose tables these rules hold: `ip`, and `ip6` in a dual-stack overlay.
    public var families: [String] { networkV6 == nil ? [MasqueradeRules.family] : [MasqueradeRules.family, MasqueradeRules.familyV6] }

    /// The IPv4 table's contents: two base chains, postrouting (nat, srcnat) and forward (filter).
    public var tableBody: String {
        MasqueradeRules.body(family: MasqueradeRules.family, network: "\(network)", subnet: "\(subnet)",
                             multicast: "\(MasqueradeRules.multicast)")
    }

    /// The IPv6 table's contents (nil without IPv6): the same rules over the IPv6 Network.
    public var tableBodyV6: String? {
        guard let networkV6, let subnetV6 else { return nil }
        return MasqueradeRules.body(family: MasqueradeRules.familyV6, network: "\(networkV6)", subnet: "\(subnetV6)",
                                    multicast: "\(MasqueradeRules.multicastV6)")
    }

    /// One family's table; `family` is also nft's match keyword for its addresses (ip, ip6).
    private static func body(family f: String, network: String, subnet: String, multicast: String) -> String {
        let mark = "0x" + String(MasqueradeRules.kubeProxyMark, radix: 16)
        return """
            table \(f) \(MasqueradeRules.table) {
            \tchain postrouting {
            \t\ttype nat hook postrouting priority srcnat; policy accept;
            \t\tmeta mark & \(mark) == \(mark) return
            \t\t\(f) saddr \(network) \(f) daddr \(network) return
            \t\t\(f) saddr != \(network) \(f) daddr \(subnet) return
            \t\t\(f) saddr \(network) \(f) daddr != \(multicast) masquerade fully-random
            \t\t\(f) saddr != \(network) \(f) daddr \(network) masquerade fully-random
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t\t\(f) saddr \(network) accept
            \t\t\(f) daddr \(network) accept
            \t}
            }

            """
    }

    /// The input for `nft -f -`: one transaction that, for each table, creates it if missing,
    /// deletes it and adds it whole, so applying it any number of times leaves exactly one copy of
    /// each rule, and a failure leaves the previous state untouched.
    public var applyScript: String {
        zip(families, [tableBody] + (tableBodyV6.map { [$0] } ?? [])).map { family, body in
            """
            table \(family) \(MasqueradeRules.table) {}
            delete table \(family) \(MasqueradeRules.table)
            \(body)
            """
        }.joined()
    }

    /// The arguments of `nft` that remove the IPv4 table.
    public static let deleteArguments = deleteArguments(family: family)
    /// The arguments of `nft` that print the IPv4 table (to notice changes made by others).
    public static let listArguments = listArguments(family: family)

    public static func deleteArguments(family: String) -> [String] { ["delete", "table", family, table] }
    public static func listArguments(family: String) -> [String] { ["list", "table", family, table] }
}
