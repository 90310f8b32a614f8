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
    private var reported: Set<IPv4Subnet> = []

    init(format: EncapsulationFormat, port: UInt16, ownSubnet: IPv4Subnet) {
        self.format = format
        self.port = port
        self.ownSubnet = ownSubnet
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
                               vtepMAC: lease.attributes.vtepMAC ?? MACAddress(0)))
        }
        return result.sorted { $0.subnet < $1.subnet }
    }
}
