import TwillIO
import TwillWire

/// The ingress loop with offloads: a receive may hold many datagrams of one sender (UDP GRO, split
/// by the reported segment size); each passes the usual checks, and consecutive TCP segments of one
/// flow are written to the TUN as one GSO packet (userspace GRO) by scatter-gather: a header from
/// the arena, then the payloads in place.
struct OffloadIngressLoop: DatapathLoop {
    let context: LoopContext

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let pool = io.pool
        let counters = context.counters
        var batch = PacketBatch(capacity: config.batchSize, pool: pool)
        var state = LoopState(context, pool: pool)
        var truncated = io.truncatedReceives
        var output = IngressOutput(messages: 512, vectors: 4096)
        let admission = IngressAdmission(
            decapsulator: Decapsulator(format: config.format, vni: config.vni, localMAC: config.localMAC),
            localSubnet: config.localSubnet, localSubnetV6: config.ipv6?.localSubnet)
        let coalesce = config.offloads.contains(.tcpGRO)
        while !context.stop.isStopped {
            let n = state.receiveUDP(&io, into: &batch, truncated: &truncated)
            guard n > 0 else { continue }
            let table = state.peers()
            var datagrams = 0
            var bytesIn = 0
            for i in 0..<batch.count {
                let entry = batch.packet(i)
                // An empty datagram is one datagram too (refused below as truncated).
                let size = batch.segmentSize(i) > 0 ? batch.segmentSize(i) : max(entry.count, 1)
                let count = max(1, (entry.count + size - 1) / size)
                datagrams += count
                bytesIn += entry.count
                guard let source = batch.address(i).ipAddress, let peer = table.peerIndex(underlay: source) else {
                    for _ in 0..<count { state.drops.count(.unknownPeer) }
                    continue
                }
                let sender = table.peers[peer]
                var offset = 0
                repeat {
                    let datagram = UnsafeMutableRawBufferPointer(rebasing: entry[offset..<min(offset + size, entry.count)])
                    offset += size
                    guard let (at, length) = admission.admit(datagram, peer: sender, state: &state) else { continue }
                    let inner = UnsafeRawBufferPointer(rebasing: datagram[at..<(at + length)])
                    if coalesce, let segment = TCPRunSegment(inner) {
                        output.add(segment, io: &io, state: &state)
                    } else {
                        output.addSingle(inner, io: &io, state: &state)
                    }
                } while offset < entry.count
            }
            output.write(io: &io, state: &state)
            counters.add(.receivedPackets, UInt64(datagrams))
            counters.add(.receivedBytes, UInt64(bytesIn))
            counters.add(.ingressBatches, 1)
            state.flush()
        }
        batch.removeAll()
    }
}

/// The ingress loop's pending TUN writes: one open TCP run at a time (a bulk flow's segments arrive
/// back to back), closed by anything that cannot join it.
struct IngressOutput: ~Copyable {
    var vectors: IOVectorBatch
    var headers: HeaderArena
    var run = TCPRun()
    var runHeader: UnsafeMutableRawPointer
    /// The zero virtio header in front of packets written as they came.
    let plainHeader: UnsafeMutableRawPointer

    init(messages: Int, vectors: Int) {
        self.vectors = IOVectorBatch(messages: messages, vectors: vectors)
        headers = HeaderArena(entries: messages, stride: 128)
        runHeader = headers.base
        plainHeader = .allocate(byteCount: VirtioNetHeader.length, alignment: 8)
        plainHeader.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNetHeader.length)
    }

    deinit { plainHeader.deallocate() }

    @inline(__always)
    mutating func add<IO: PacketIO & ~Copyable>(_ s: TCPRunSegment, io: inout IO, state: inout LoopState) {
        if !run.isEmpty && run.accepts(s) && vectors.freeVectors >= 1 {
            run.append(s)
            _ = vectors.append(s.payload, s.payloadLength)
            return
        }
        closeRun()
        makeRoom(io: &io, state: &state)
        run.start(s)
        runHeader = headers.next()
        _ = vectors.begin()
        _ = vectors.append(runHeader, VirtioNetHeader.length + s.headerLength)
        _ = vectors.append(s.payload, s.payloadLength)
    }

    @inline(__always)
    mutating func addSingle<IO: PacketIO & ~Copyable>(_ packet: UnsafeRawBufferPointer, io: inout IO, state: inout LoopState) {
        closeRun()
        makeRoom(io: &io, state: &state)
        _ = vectors.begin()
        _ = vectors.append(plainHeader, VirtioNetHeader.length)
        _ = vectors.append(packet.baseAddress.unsafelyUnwrapped, packet.count)
        vectors.finish()
    }

    @inline(__always)
    private mutating func closeRun() {
        guard !run.isEmpty else { return }
        _ = run.writeHeader(into: runHeader)
        vectors.finish()
        run.reset()
    }

    @inline(__always)
    private mutating func makeRoom<IO: PacketIO & ~Copyable>(io: inout IO, state: inout LoopState) {
        if !vectors.hasRoom(vectors: 2) || !headers.hasRoom(1) { write(io: &io, state: &state) }
    }

    /// Writes every pending packet (closing the open run) to the TUN.
    mutating func write<IO: PacketIO & ~Copyable>(io: inout IO, state: inout LoopState) {
        closeRun()
        defer {
            vectors.removeAll()
            headers.reset()
        }
        guard !vectors.isEmpty else { return }
        let written = (try? io.writeTun(vectors)) ?? 0
        var bytes = 0
        for i in 0..<vectors.count { bytes += vectors.byteCount(i) - VirtioNetHeader.length }
        for _ in written..<max(written, vectors.count) { state.drops.count(.tunWriteFailed) }
        state.counters.add(.tunWritePackets, UInt64(written))
        state.counters.add(.tunWriteBytes, UInt64(written == vectors.count ? bytes : bytes * written / vectors.count))
    }
}
