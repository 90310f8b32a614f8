import TwillWire

/// Why the datapath dropped a packet. Every reason has its own counter.
public enum DropReason: Hashable, Sendable, CustomStringConvertible {
    /// The codec refused the bytes.
    case malformed(WireError)
    /// Ingress: the outer source is not a known peer.
    case unknownPeer
    /// Ingress: the inner source lies outside the sending peer's subnet (spoofing).
    case spoofedInnerSource
    /// Ingress: the inner destination is not in this host's subnet.
    case notForThisHost
    /// Egress: no peer leases the destination (an ICMP net unreachable goes back).
    case noRoute
    /// Egress: TTL ran out (an ICMP time exceeded goes back).
    case ttlExpired
    /// Egress: IPv6 inner packets are not routed by this overlay yet.
    case ipv6NotRouted
    /// The UDP send of an encapsulated packet failed.
    case sendFailed
    /// The TUN refused a decapsulated packet.
    case tunWriteFailed
    /// Ingress: a datagram larger than a pool slot (the slot size is derived from the underlay MTU).
    case oversizedDatagram

    public static let overlayReasons: [DropReason] = [
        .unknownPeer, .spoofedInnerSource, .notForThisHost, .noRoute, .ttlExpired, .ipv6NotRouted, .sendFailed,
        .tunWriteFailed, .oversizedDatagram,
    ]

    /// Every reason, in counter order.
    public static let all: [DropReason] = WireError.allCases.map { .malformed($0) } + overlayReasons

    public static var count: Int { all.count }

    /// The counter slot of this reason.
    @inline(__always)
    public var index: Int {
        switch self {
        case .malformed(let e): Int(e.rawValue)
        case .unknownPeer: WireError.allCases.count
        case .spoofedInnerSource: WireError.allCases.count + 1
        case .notForThisHost: WireError.allCases.count + 2
        case .noRoute: WireError.allCases.count + 3
        case .ttlExpired: WireError.allCases.count + 4
        case .ipv6NotRouted: WireError.allCases.count + 5
        case .sendFailed: WireError.allCases.count + 6
        case .tunWriteFailed: WireError.allCases.count + 7
        case .oversizedDatagram: WireError.allCases.count + 8
        }
    }

    /// The label used in logs and metrics.
    public var description: String {
        switch self {
        case .malformed(let e): e.description
        case .unknownPeer: "unknown_peer"
        case .spoofedInnerSource: "spoofed_inner_source"
        case .notForThisHost: "not_for_this_host"
        case .noRoute: "no_route"
        case .ttlExpired: "ttl_expired"
        case .ipv6NotRouted: "ipv6_not_routed"
        case .sendFailed: "send_failed"
        case .tunWriteFailed: "tun_write_failed"
        case .oversizedDatagram: "oversized_datagram"
        }
    }
}
