import TwillIO
import TwillWire

/// The per-packet decisions of the egress side, shared by both egress loops: parse, find the peer,
/// decrement the TTL, and answer unroutable or expired packets with an ICMP error into `replies`.
struct EgressRouting {
    let icmpSource: IPv4Address
    /// Bytes in front of each reply that the TUN expects (a zero virtio header, or nothing).
    let replyPrefix: Int

    /// The peer index and the inner packet's own length, or nil when the packet was dropped
    /// (counted in `state`, with an ICMP error queued where one is due).
    @inline(__always)
    func route(_ packet: UnsafeMutableRawBufferPointer, table: PeerTable, state: inout LoopState,
               replies: inout PacketBatch) -> (peer: Int, length: Int)? {
        let info: IPPacketInfo
        do { info = try IPPacketInfo(parsing: packet) } catch {
            state.drops.count(.malformed(error))
            return nil
        }
        guard case .v4(let destination) = info.destination, let ip = try? IPv4Packet(packet) else {
            state.drops.count(.ipv6NotRouted)
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
        return (peer, info.length)
    }

    /// Builds an ICMP error about `original` into a fresh slot of `replies` (skipped when the pool is
    /// empty or no error may be sent about that packet).
    @inline(__always)
    private func reply(_ replies: inout PacketBatch, _ type: UInt8, _ code: UInt8, about original: UnsafeMutableRawBufferPointer) {
        let headroom = replies.pool.headroom
        guard replies.appendFromPool(offset: headroom) else { return }
        let last = replies.count - 1
        let slot = replies.slot(last)
        slot.baseAddress.unsafelyUnwrapped.advanced(by: headroom).initializeMemory(as: UInt8.self, repeating: 0, count: replyPrefix)
        let out = UnsafeMutableRawBufferPointer(rebasing: slot[(headroom + replyPrefix)...])
        let length = ICMPError.buildIPv4(type: type, code: code, original: original, source: icmpSource, into: out)
        if length > 0 {
            replies.setPacket(last, offset: headroom, length: replyPrefix + length)
        } else {
            _ = replies.removeLast()
        }
    }
}
