/// Why the codec refused bytes. Each case is a drop reason the datapath counts separately.
public enum WireError: UInt8, Error, CaseIterable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the header (or the lengths it declares) needs.
    case truncated
    /// The version nibble is neither 4 nor 6.
    case notIP
    /// IPv4 IHL below 5 or past the end of the bytes.
    case ipv4HeaderLength
    /// IPv4 total length below the header length or beyond the bytes.
    case ipv4TotalLength
    /// IPv6 payload length beyond the bytes.
    case ipv6PayloadLength
    /// IPv6 extension header chain malformed or too long.
    case ipv6ExtensionHeaders
    /// The declared EtherType and the IP version nibble disagree.
    case etherTypeVersionMismatch
    /// VXLAN I flag (0x08) not set.
    case vxlanFlagMissing
    /// VXLAN VNI not ours.
    case wrongVNI
    /// Inner Ethernet frame is not IPv4/IPv6 (ARP and others are refused, not trapped).
    case innerEtherTypeNotIP
    /// Inner destination MAC is not our VTEP's.
    case innerDestinationMACNotOurs
    /// Outer IPv4/IPv6 protocol is not UDP.
    case notUDP
    /// UDP length field disagrees with the bytes.
    case udpLength
    /// TCP data offset below 5 or past the end of the bytes.
    case tcpHeaderLength
    /// Not enough headroom in front of the packet for the encapsulation headers.
    case headroomTooSmall
    /// An output buffer is too small for what must be written.
    case bufferTooSmall
    /// A virtio_net_hdr's GSO fields do not describe the packet behind it.
    case gsoHeader

    public var description: String {
        switch self {
        case .truncated: "truncated"
        case .notIP: "not_ip"
        case .ipv4HeaderLength: "ipv4_header_length"
        case .ipv4TotalLength: "ipv4_total_length"
        case .ipv6PayloadLength: "ipv6_payload_length"
        case .ipv6ExtensionHeaders: "ipv6_extension_headers"
        case .etherTypeVersionMismatch: "ethertype_version_mismatch"
        case .vxlanFlagMissing: "vxlan_flag_missing"
        case .wrongVNI: "wrong_vni"
        case .innerEtherTypeNotIP: "inner_ethertype_not_ip"
        case .innerDestinationMACNotOurs: "inner_mac_not_ours"
        case .notUDP: "not_udp"
        case .udpLength: "udp_length"
        case .tcpHeaderLength: "tcp_header_length"
        case .headroomTooSmall: "headroom_too_small"
        case .bufferTooSmall: "buffer_too_small"
        case .gsoHeader: "gso_header"
        }
    }
}
