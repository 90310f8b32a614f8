import TwillIO
import TwillWire

/// Where an egress packet goes: the peer, the inner packet's own length and its IP version.
struct EgressRoute {
    let peer: Int
    let length: Int
    let version: UInt8
}

/// The per-packet decisions of the egress side, shared by both egress loops: parse, find the peer,
/// decrement the TTL (hop limit), and answer unroutable or expired packets with an ICMP or ICMPv6
/// error into `replies`.
struct EgressRouting {
    let icmpSource: IPv4Address
    let ipv6: ForwarderConfiguration.IPv6Overlay?
    /// Bytes in front of each reply that the TUN expects (a zero virtio header, or nothing).
    let replyPrefix: Int

    /// The route, or nil when the packet was dropped (counted in `state`, with an ICMP error queued
    /// where one is due).
    @inline(__always)
    func route(_ packet: UnsafeMutableRawBufferPointer, table: PeerTable, state: inout LoopState,
               replies: inout PacketBatch) -> EgressRoute? {
        let info: IPPacketInfo
        do { info = try IPPacketInfo(parsing: packet) } catch {
            state.drops.count(.malformed(error))
            return nil
        }
        switch info.destination {
        case .v4(let destination):
            guard let ip = try? IPv4Packet(packet) else {
                state.drops.count(.malformed(.truncated))
                return nil
            }
            guard let peer = table.peerIndex(for: destination) else {
                reply(&replies, ICMPv4Type.destinationUnreachable, ICMPv4Type.codeNetUnreachable, about: packet)
                state.drops.count(.noRoute)
                return nil
            }
            guard ip.decrementTTL() else {
                reply(&replies, ICMPv4Type.timeExceeded, ICMPv4Type.codeTTLExceeded, about: packet)
                state.drops.count(.ttlExpired)
                return nil
            }
            return EgressRoute(peer: peer, length: info.length, version: 4)
        case .v6(let destination):
            // Link-local and multicast traffic of the TUN itself (router solicitations, MLD) and
            // everything when the overlay has no IPv6 stops here, without an error.
            guard let ipv6, ipv6.network.contains(destination), let ip = try? IPv6Packet(packet) else {
                state.drops.count(.ipv6NotRouted)
                return nil
            }
            guard let peer = table.peerIndex(for: destination) else {
                reply(&replies, ICMPv6Type.destinationUnreachable, ICMPv6Type.codeNoRoute, about: packet, v6: ipv6)
                state.drops.count(.noRoute)
                return nil
            }
            guard ip.decrementHopLimit() else {
                reply(&replies, ICMPv6Type.timeExceeded, ICMPv6Type.codeHopLimitExceeded, about: packet, v6: ipv6)
                state.drops.count(.ttlExpired)
                return nil
            }
            return EgressRoute(peer: peer, length: info.length, version: 6)
        }
    }

    /// Builds an ICMP (or, given `v6`, ICMPv6) error about `original` into a fresh slot of `replies`
    /// (skipped when the pool is empty or no error may be sent about that packet).
    @inline(__always)
    private func reply(_ replies: inout PacketBatch, _ type: UInt8, _ code: UInt8,
                       about original: UnsafeMutableRawBufferPointer, v6: ForwarderConfiguration.IPv6Overlay? = nil) {
        let headroom = replies.pool.headroom
        guard replies.appendFromPool(offset: headroom) else { return }
        let last = replies.count - 1
        let slot = replies.slot(last)
        slot.baseAddress.unsafelyUnwrapped.advanced(by: headroom).initializeMemory(as: UInt8.self, repeating: 0, count: replyPrefix)
        let out = UnsafeMutableRawBufferPointer(rebasing: slot[(headroom + replyPrefix)...])
        let length = v6.map { ICMPError.buildIPv6(type: type, code: code, original: original, source: $0.icmpSource, into: out) }
            ?? ICMPError.buildIPv4(type: type, code: code, original: original, source: icmpSource, into: out)
        if length > 0 {
            replies.setPacket(last, offset: headroom, length: replyPrefix + length)
        } else {
            _ = replies.removeLast()
        }
    }
}
