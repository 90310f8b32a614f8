import TwillWire

/// A remote host of the overlay: the subnets it leases, where its underlay endpoints are, and (for
/// VXLAN) its VTEP MACs.
public struct Peer: Sendable, Equatable, CustomStringConvertible {
    public var subnet: IPv4Subnet
    public var underlay: IPAddress
    public var port: UInt16
    public var vtepMAC: MACAddress
    /// The peer's IPv6 subnet in a dual-stack overlay.
    public var subnetV6: IPv6Subnet?
    /// The peer's IPv6 underlay address (its PublicIPv6), set only when this host has an IPv6
    /// underlay too: IPv6 inner packets then travel over IPv6, as flannel's dual-stack vxlan does.
    public var underlayV6: IPv6Address?
    /// The MAC that IPv6 inner frames are addressed to (flannel's BackendV6Data); nil means `vtepMAC`.
    public var vtepMACv6: MACAddress?

    public init(subnet: IPv4Subnet, underlay: IPAddress, port: UInt16, vtepMAC: MACAddress = MACAddress(0),
                subnetV6: IPv6Subnet? = nil, underlayV6: IPv6Address? = nil, vtepMACv6: MACAddress? = nil) {
        self.subnet = subnet
        self.underlay = underlay
        self.port = port
        self.vtepMAC = vtepMAC
        self.subnetV6 = subnetV6
        self.underlayV6 = underlayV6
        self.vtepMACv6 = vtepMACv6
    }

    public var description: String {
        var text = "\(subnet)"
        if let subnetV6 { text += " + \(subnetV6)" }
        text += " via \(underlay):\(port)"
        if let underlayV6 { text += " and [\(underlayV6)]:\(port)" }
        return text + " mac \(vtepMAC)"
    }
}
