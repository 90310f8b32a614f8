import TwillIO
import TwillWire

/// The egress loop with offloads: the TUN hands over TCP/UDP superpackets (up to 64 KB behind a
/// virtio header); each is cut into wire-size segments whose headers are written into an arena and
/// whose payloads are sent in place, by scatter-gather, several segments per UDP_SEGMENT send.
struct OffloadEgressLoop: DatapathLoop {
    let context: LoopContext

    /// Largest UDP payload over IPv4 (65535 - IP - UDP headers).
    static let maximumUDPPayload = 65507

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let pool = io.pool
        let counters = context.counters
        var batch = PacketBatch(capacity: config.batchSize, pool: pool)
        var replies = PacketBatch(capacity: config.batchSize, pool: pool)
        var state = LoopState(context, pool: pool)
        var output = EgressOutput(segments: 1024, gso: config.offloads.contains(.udpGSO),
                                  gsoFailures: io.gsoSendFailures)
        let encapsulator = Encapsulator(format: config.format, vni: config.vni, localMAC: config.localMAC)
        let routing = EgressRouting(icmpSource: config.icmpSource, ipv6: config.ipv6, replyPrefix: VirtioNetHeader.length)
        let encapLength = config.format.headerLength
        let vnetLength = VirtioNetHeader.length
        while !context.stop.isStopped {
            let n = state.readTun(&io, into: &batch)
            guard n > 0 else { continue }
            let table = state.peers()
            var bytesIn = 0
            for i in 0..<batch.count {
                let raw = batch.packet(i)
                let vnet: VirtioNetHeader
                do { vnet = try VirtioNetHeader(parsing: UnsafeRawBufferPointer(raw)) } catch {
                    state.drops.count(.malformed(error))
                    continue
                }
                let inner = UnsafeMutableRawBufferPointer(rebasing: raw[vnetLength...])
                bytesIn += inner.count
                guard let route = routing.route(inner, table: table, state: &state, replies: &replies) else { continue }
                let length = route.length
                let (endpoint, mac) = table.destination(route.peer, version: route.version)
                if vnet.gsoType == VirtioNetHeader.gsoNone {
                    if vnet.flags & VirtioNetHeader.flagNeedsChecksum != 0 {
                        do {
                            try completePartialChecksum(inner, start: Int(vnet.checksumStart), offset: Int(vnet.checksumOffset))
                        } catch {
                            state.drops.count(.malformed(error))
                            continue
                        }
                    }
                    let start: Int
                    do {
                        start = try encapsulator.encapsulate(batch.slot(i), innerOffset: batch.offset(i) + vnetLength,
                                                             innerLength: length, innerVersion: route.version, peerMAC: mac)
                    } catch {
                        state.drops.count(.malformed(error))
                        continue
                    }
                    output.makeRoom(segments: 1, io: &io, state: &state)
                    _ = output.vectors.begin(to: endpoint)
                    _ = output.vectors.append(batch.slot(i).baseAddress.unsafelyUnwrapped + start, length + encapLength)
                    output.vectors.finish()
                    continue
                }
                let sp: Superpacket
                do { sp = try Superpacket(packet: UnsafeRawBufferPointer(inner), header: vnet) } catch {
                    state.drops.count(.malformed(error))
                    continue
                }
                let segmentLength = encapLength + sp.headerLength + sp.segmentPayload
                let perSend = output.gso
                    ? max(1, min(config.gsoMaxSegments, OffloadEgressLoop.maximumUDPPayload / segmentLength)) : 1
                var j = 0
                while j < sp.segmentCount {
                    let k = min(perSend, sp.segmentCount - j)
                    output.makeRoom(segments: k, io: &io, state: &state)
                    _ = output.vectors.begin(to: endpoint, segmentSize: k > 1 ? segmentLength : 0)
                    for m in j..<(j + k) {
                        let h = output.nextHeader()
                        // The encapsulation headers end where the inner headers start, both in the arena.
                        _ = try? encapsulator.encapsulate(UnsafeMutableRawBufferPointer(start: h, count: output.headers.stride),
                                                          innerOffset: encapLength, innerLength: sp.headerLength,
                                                          innerVersion: sp.version, peerMAC: mac)
                        sp.writeHeaders(m, into: h + encapLength)
                        _ = output.vectors.append(h, encapLength + sp.headerLength)
                        _ = output.vectors.append(sp.payload(m).baseAddress.unsafelyUnwrapped, sp.payloadCount(m))
                    }
                    output.vectors.finish()
                    j += k
                }
            }
            output.send(io: &io, state: &state)
            state.writeReplies(&replies, io: &io)
            counters.add(.tunReadPackets, UInt64(n))
            counters.add(.tunReadBytes, UInt64(bytesIn))
            counters.add(.egressBatches, 1)
            state.flush()
        }
        batch.removeAll()
        replies.removeAll()
    }
}

/// The egress loop's pending sends: scatter-gather messages and the arena holding each segment's
/// headers. Sent when full and at the end of every batch; the payloads stay in the batch's slots.
struct EgressOutput: ~Copyable {
    var vectors: IOVectorBatch
    var headers: HeaderArena
    /// UDP GSO in use; turned off for good when the kernel refuses it with EIO.
    var gso: Bool
    var gsoFailures: UInt64

    init(segments: Int, gso: Bool, gsoFailures: UInt64) {
        vectors = IOVectorBatch(messages: segments, vectors: 2 * segments)
        // Encapsulation (up to 22 bytes) plus IPv6 with extension headers and TCP with options.
        headers = HeaderArena(entries: segments, stride: 256)
        self.gso = gso
        self.gsoFailures = gsoFailures
    }

    @inline(__always)
    mutating func nextHeader() -> UnsafeMutableRawPointer { headers.next() }

    /// Sends what is pending when `segments` more would not fit.
    @inline(__always)
    mutating func makeRoom<IO: PacketIO & ~Copyable>(segments: Int, io: inout IO, state: inout LoopState) {
        if !vectors.hasRoom(vectors: 2 * segments) || !headers.hasRoom(segments) { send(io: &io, state: &state) }
    }

    mutating func send<IO: PacketIO & ~Copyable>(io: inout IO, state: inout LoopState) {
        defer {
            vectors.removeAll()
            headers.reset()
        }
        guard !vectors.isEmpty else { return }
        let sent = (try? io.sendUDP(vectors)) ?? 0
        var datagrams = 0
        var bytes = 0
        for i in 0..<vectors.count {
            datagrams += vectors.datagrams(i)
            bytes += vectors.byteCount(i)
        }
        let delivered = sent == vectors.count ? datagrams : datagrams * sent / vectors.count
        for _ in delivered..<datagrams { state.drops.count(.sendFailed) }
        state.counters.add(.sentPackets, UInt64(delivered))
        state.counters.add(.sentBytes, UInt64(sent == vectors.count ? bytes : bytes * sent / vectors.count))
        if io.gsoSendFailures != gsoFailures {
            gsoFailures = io.gsoSendFailures
            gso = false
            state.counters.add(.gsoDisabled, 1)
        }
    }
}
