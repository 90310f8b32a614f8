import TwillIO
import TwillWire

/// TUN -> look up the peer -> decrement TTL -> encapsulate into the headroom -> batched UDP send.
/// Unroutable packets and expired TTLs get an ICMP error written back into the TUN. This is the
/// loop without offloads: one TUN packet, one datagram.
struct EgressLoop: DatapathLoop {
    let context: LoopContext

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let pool = io.pool
        let counters = context.counters
        var batch = PacketBatch(capacity: config.batchSize, pool: pool)
        var replies = PacketBatch(capacity: config.batchSize, pool: pool)
        var state = LoopState(context, pool: pool)
        let encapsulator = Encapsulator(format: config.format, vni: config.vni, localMAC: config.localMAC)
        let routing = EgressRouting(icmpSource: config.icmpSource, ipv6: config.ipv6, replyPrefix: 0)
        let headerLength = config.format.headerLength
        while !context.stop.isStopped {
            let n = state.readTun(&io, into: &batch)
            guard n > 0 else { continue }
            let table = state.peers()
            var bytesIn = 0
            var toSend = 0
            var bytesOut = 0
            for i in 0..<batch.count {
                let packet = batch.packet(i)
                bytesIn += packet.count
                guard let route = routing.route(packet, table: table, state: &state, replies: &replies) else {
                    batch.drop(i)
                    continue
                }
                let length = route.length
                let (endpoint, mac) = table.destination(route.peer, version: route.version)
                let start: Int
                do {
                    start = try encapsulator.encapsulate(batch.slot(i), innerOffset: batch.offset(i),
                                                         innerLength: length, innerVersion: route.version,
                                                         peerMAC: mac)
                } catch {
                    state.drops.count(.malformed(error))
                    batch.drop(i)
                    continue
                }
                batch.setPacket(i, offset: start, length: length + headerLength)
                batch.setAddress(i, endpoint)
                toSend += 1
                bytesOut += length + headerLength
            }
            let sent = toSend > 0 ? ((try? io.sendUDP(batch)) ?? 0) : 0
            for _ in sent..<max(sent, toSend) { state.drops.count(.sendFailed) }
            state.writeReplies(&replies, io: &io)
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
}
