import TwillIO
import TwillWire

/// TUN -> look up the peer -> decrement TTL -> encapsulate into the headroom -> batched UDP send.
/// Unroutable packets and expired TTLs get an ICMP error written back into the TUN.
struct EgressLoop: PacketIOUser {
    let context: LoopContext
    private var config: ForwarderConfiguration { context.config }

    init(_ context: LoopContext) { self.context = context }

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let pool = io.pool
        let counters = context.counters
        var batch = PacketBatch(capacity: config.batchSize, pool: pool)
        var replies = PacketBatch(capacity: config.batchSize, pool: pool)
        var state = LoopState(context, pool: pool)
        let encapsulator = Encapsulator(format: config.format, vni: config.vni, localMAC: config.localMAC)
        let headerLength = config.format.headerLength
        while !context.stop.isStopped {
            batch.removeAll()
            let n = (try? io.readTun(into: &batch, timeoutMilliseconds: config.pollMilliseconds)) ?? 0
            state.noteExhaustions(pool)
            guard n > 0 else { continue }
            let table = state.peers()
            var bytesIn = 0
            var toSend = 0
            var bytesOut = 0
            for i in 0..<batch.count {
                let packet = batch.packet(i)
                bytesIn += packet.count
                let info: IPPacketInfo
                do { info = try IPPacketInfo(parsing: packet) } catch {
                    state.drops.count(.malformed(error))
                    batch.drop(i)
                    continue
                }
                guard case .v4(let destination) = info.destination, let ip = try? IPv4Packet(packet) else {
                    state.drops.count(.ipv6NotRouted)
                    batch.drop(i)
                    continue
                }
                guard let peer = table.peerIndex(for: destination) else {
                    reply(&replies, ICMPv4Type.destinationUnreachable, ICMPv4Type.codeNetUnreachable, about: packet)
                    state.drops.count(.noRoute)
                    batch.drop(i)
                    continue
                }
                guard ip.decrementTTL() else {
                    reply(&replies, ICMPv4Type.timeExceeded, ICMPv4Type.codeTTLExceeded, about: packet)
                    state.drops.count(.ttlExpired)
                    batch.drop(i)
                    continue
                }
                let start: Int
                do {
                    start = try encapsulator.encapsulate(batch.slot(i), innerOffset: batch.offset(i),
                                                         innerLength: info.length, innerVersion: 4,
                                                         peerMAC: table.peers[peer].vtepMAC)
                } catch {
                    state.drops.count(.malformed(error))
                    batch.drop(i)
                    continue
                }
                batch.setPacket(i, offset: start, length: info.length + headerLength)
                batch.setAddress(i, table.endpoint(peer))
                toSend += 1
                bytesOut += info.length + headerLength
            }
            let sent = toSend > 0 ? ((try? io.sendUDP(batch)) ?? 0) : 0
            for _ in sent..<max(sent, toSend) { state.drops.count(.sendFailed) }
            if !replies.isEmpty {
                let written = (try? io.writeTun(replies)) ?? 0
                counters.add(.icmpErrorsSent, UInt64(written))
                replies.removeAll()
            }
            counters.add(.tunReadPackets, UInt64(n))
            counters.add(.tunReadBytes, UInt64(bytesIn))
            counters.add(.sentPackets, UInt64(sent))
            counters.add(.sentBytes, UInt64(sent == toSend ? bytesOut : bytesOut * sent / max(toSend, 1)))
            counters.add(.egressBatches, 1)
            state.flush()
        }
        batch.removeAll()
        replies.removeAll()
    }

    /// Builds an ICMP error about `original` into a fresh slot of `replies` (skipped when the pool is
    /// empty or no error may be sent about that packet).
    @inline(__always)
    private func reply(_ replies: inout PacketBatch, _ type: UInt8, _ code: UInt8, about original: UnsafeMutableRawBufferPointer) {
        let headroom = replies.pool.headroom
        guard replies.appendFromPool(offset: headroom) else { return }
        let last = replies.count - 1
        let out = UnsafeMutableRawBufferPointer(rebasing: replies.slot(last)[headroom...])
        let length = ICMPError.buildIPv4(type: type, code: code, original: original, source: config.icmpSource, into: out)
        if length > 0 {
            replies.setPacket(last, offset: headroom, length: length)
        } else {
            _ = replies.removeLast()
        }
    }
}
