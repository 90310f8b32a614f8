import Logging
import TwillControl
import TwillOverlay
import TwillWire

/// Turns the leases in the store into the datapath's peers: every lease but ours whose backend is
/// our format. Leases of other backends are skipped with one log line each.
struct LeasePeers {
    let format: EncapsulationFormat
    let port: UInt16
    let ownSubnet: IPv4Subnet
    /// The overlay is dual stack: peers' IPv6 subnets are routed.
    let dualStack: Bool
    /// This host has an IPv6 underlay: peers' PublicIPv6 addresses are used for IPv6 pods' traffic.
    let ipv6Underlay: Bool
    private var reported: Set<IPv4Subnet> = []

    init(format: EncapsulationFormat, port: UInt16, ownSubnet: IPv4Subnet, dualStack: Bool = false,
         ipv6Underlay: Bool = false) {
        self.format = format
        self.port = port
        self.ownSubnet = ownSubnet
        self.dualStack = dualStack
        self.ipv6Underlay = ipv6Underlay
    }

    mutating func peers(from leases: [Lease], logger: Logger) -> [Peer] {
        var result: [Peer] = []
        for lease in leases where lease.subnet != ownSubnet {
            guard lease.attributes.format == format else {
                if reported.insert(lease.subnet).inserted {
                    logger.warning("ignoring lease \(lease.subnet) of \(lease.attributes.publicIP): backend '\(lease.attributes.backendType)' is not \(format)")
                }
                continue
            }
            if format == .vxlan && lease.attributes.vtepMAC == nil {
                if reported.insert(lease.subnet).inserted {
                    logger.warning("ignoring vxlan lease \(lease.subnet) of \(lease.attributes.publicIP): no VtepMAC")
                }
                continue
            }
            result.append(Peer(subnet: lease.subnet, underlay: .v4(lease.attributes.publicIP), port: port,
                               vtepMAC: lease.attributes.vtepMAC ?? MACAddress(0),
                               subnetV6: dualStack ? lease.subnetV6 : nil,
                               underlayV6: dualStack && ipv6Underlay ? lease.attributes.publicIPv6 : nil,
                               vtepMACv6: lease.attributes.vtepMACv6))
        }
        return result.sorted { $0.subnet < $1.subnet }
    }
}
