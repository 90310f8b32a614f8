/// The two wire formats of the overlay.
public enum EncapsulationFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    /// flannel's udp backend: the UDP payload is the inner IP packet, unchanged.
    case udp
    /// RFC 7348: VXLAN header, inner Ethernet, then the inner IP packet.
    case vxlan

    public var defaultPort: UInt16 {
        switch self {
        case .udp: 8285
        case .vxlan: 8472
        }
    }

    /// Bytes the format puts in front of the inner packet inside the UDP payload.
    public var headerLength: Int {
        switch self {
        case .udp: 0
        case .vxlan: VXLANHeader.length + EthernetFrame.headerLength
        }
    }

    /// Outer IP + UDP + format headers: what the overlay MTU must leave room for.
    public func overhead(ipv6Underlay: Bool) -> Int {
        (ipv6Underlay ? IPv6Packet.headerLength : IPv4Repr.headerLength) + UDPDatagram.headerLength + headerLength
    }

    /// Room to reserve in front of every packet for any format's headers (and an outer IP/UDP header
    /// for raw sends).
    public static let maximumHeadroom = 64

    public var description: String { rawValue }
}
