/// What the datapath needs from an inner IP packet: version, addresses, length and transport.
/// Parsing validates the IP header lengths; the transport fields are best effort (0 when absent).
/// Fragments carry no ports; an IPv6 fragment's protocol is `noNextHeader`.
public struct IPPacketInfo: Equatable, Sendable {
    public var version: UInt8
    public var source: IPAddress
    public var destination: IPAddress
    /// The packet's own length (IPv4 total length or 40 + IPv6 payload length); may be less than the bytes.
    public var length: Int
    public var proto: UInt8
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    @inline(__always)
    public init(parsing bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= 1, let p = bytes.baseAddress else { throw .truncated }
        switch load8(p, 0) >> 4 {
        case 4:
            let ip = try IPv4Packet(bytes)
            version = 4
            source = .v4(ip.source)
            destination = .v4(ip.destination)
            length = ip.totalLength
            proto = ip.proto
            let hl = ip.headerLength
            if !ip.isFragment && (proto == IPProtocol.tcp || proto == IPProtocol.udp) && length >= hl + 4 {
                sourcePort = load16(p, hl)
                destinationPort = load16(p, hl + 2)
            } else {
                sourcePort = 0
                destinationPort = 0
            }
        case 6:
            let ip = try IPv6Packet(bytes)
            version = 6
            source = .v6(ip.source)
            destination = .v6(ip.destination)
            length = ip.totalLength
            let t = try ip.walkExtensionHeaders()
            // Every fragment, the first one too, reports noNextHeader and no ports, as IPv4 fragments
            // report no ports: all fragments of one datagram then hash alike and keep one path.
            proto = t.isFragment ? IPProtocol.noNextHeader : t.proto
            if (proto == IPProtocol.tcp || proto == IPProtocol.udp) && length >= t.offset + 4 {
                sourcePort = load16(p, t.offset)
                destinationPort = load16(p, t.offset + 2)
            } else {
                sourcePort = 0
                destinationPort = 0
            }
        default:
            throw .notIP
        }
    }

    /// A hash of the flow (addresses, protocol, ports) that keeps one flow on one path: it picks the
    /// outer UDP source port (RFC 7348 section 5) and the queue.
    @inline(__always)
    public var flowHash: UInt32 {
        var h: UInt64
        switch source {
        case .v4(let a): h = UInt64(a.value)
        case .v6(let a): h = a.high ^ a.low &* 0x9E37_79B9_7F4A_7C15
        }
        switch destination {
        case .v4(let a): h = h &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(a.value) << 32
        case .v6(let a): h = h &* 0x9E37_79B9_7F4A_7C15 ^ a.high ^ a.low &* 0xC2B2_AE3D_27D4_EB4F
        }
        h ^= UInt64(proto) << 32 | UInt64(sourcePort) << 16 | UInt64(destinationPort)
        // murmur3's 64-bit finaliser: every input bit moves every output bit.
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return UInt32(truncatingIfNeeded: h)
    }
}
