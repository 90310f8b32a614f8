import TwillIO
import TwillWire

/// Batched UDP receive -> checks -> decapsulate (an offset change) -> batched TUN write. This is the
/// loop without offloads: one datagram, one TUN packet.
///
/// The checks flannel lacks: the outer source must be a known peer, the VNI ours, the inner source
/// inside that peer's subnet and the inner destination inside ours. Each refusal is counted.
struct IngressLoop: DatapathLoop {
    let context: LoopContext

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let pool = io.pool
        let counters = context.counters
        var batch = PacketBatch(capacity: config.batchSize, pool: pool)
        var state = LoopState(context, pool: pool)
        var truncated = io.truncatedReceives
        let admission = IngressAdmission(
            decapsulator: Decapsulator(format: config.format, vni: config.vni, localMAC: config.localMAC),
            localSubnet: config.localSubnet, localSubnetV6: config.ipv6?.localSubnet)
        while !context.stop.isStopped {
            let n = state.receiveUDP(&io, into: &batch, truncated: &truncated)
            guard n > 0 else { continue }
            let table = state.peers()
            var bytesIn = 0
            var toWrite = 0
            var bytesOut = 0
            for i in 0..<batch.count {
                bytesIn += batch.length(i)
                guard let source = batch.address(i).ipAddress, let peer = table.peerIndex(underlay: source) else {
                    state.drops.count(.unknownPeer)
                    batch.drop(i)
                    continue
                }
                guard let (offset, length) = admission.admit(batch.packet(i), peer: table.peers[peer], state: &state) else {
                    batch.drop(i)
                    continue
                }
                batch.setPacket(i, offset: batch.offset(i) + offset, length: length)
                toWrite += 1
                bytesOut += length
            }
            let written = toWrite > 0 ? ((try? io.writeTun(batch)) ?? 0) : 0
            for _ in written..<max(written, toWrite) { state.drops.count(.tunWriteFailed) }
            counters.add(.receivedPackets, UInt64(n))
            counters.add(.receivedBytes, UInt64(bytesIn))
            counters.add(.tunWritePackets, UInt64(written))
            counters.add(.tunWriteBytes, UInt64(written == toWrite ? bytesOut : bytesOut * written / max(toWrite, 1)))
            counters.add(.ingressBatches, 1)
            state.flush()
        }
        batch.removeAll()
    }
}
