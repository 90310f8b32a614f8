import TwillWire

/// A remote host of the overlay: the subnet it leases, where its underlay endpoint is, and (for
/// VXLAN) its VTEP MAC.
public struct Peer: Sendable, Equatable, CustomStringConvertible {
    public var subnet: IPv4Subnet
    public var underlay: IPAddress
    public var port: UInt16
    public var vtepMAC: MACAddress

    public init(subnet: IPv4Subnet, underlay: IPAddress, port: UInt16, vtepMAC: MACAddress = MACAddress(0)) {
        self.subnet = subnet
        self.underlay = underlay
        self.port = port
        self.vtepMAC = vtepMAC
    }

    public var description: String { "\(subnet) via \(underlay):\(port) mac \(vtepMAC)" }
}
