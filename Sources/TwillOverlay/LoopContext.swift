import TwillIO

/// What both datapath loops share: their configuration and the objects they report to.
struct LoopContext: Sendable {
    let config: ForwarderConfiguration
    let directory: PeerDirectory
    let counters: DatapathCounters
    let stop: StopSignal
}

/// What a loop carries from batch to batch: the peer snapshot, the drop tallies and the pool's
/// exhaustion count, all in the loop's own memory.
struct LoopState {
    private let context: LoopContext
    private var snapshot: (table: PeerTable, version: UInt64)
    private var exhaustions: UInt64
    var drops = DropTally()
    var counters: DatapathCounters { context.counters }

    init(_ context: LoopContext, pool: PacketPool) {
        self.context = context
        snapshot = context.directory.snapshot()
        exhaustions = pool.exhaustions
    }

    /// After each wait: counts the times the pool ran dry since the last one.
    @inline(__always)
    mutating func noteExhaustions(_ pool: PacketPool) {
        context.counters.add(.poolExhaustions, pool.exhaustions &- exhaustions)
        exhaustions = pool.exhaustions
    }

    /// Refills `batch` from the TUN (waiting at most the poll interval) and counts pool exhaustion.
    @inline(__always)
    mutating func readTun<IO: PacketIO & ~Copyable>(_ io: inout IO, into batch: inout PacketBatch) -> Int {
        batch.removeAll()
        let n = (try? io.readTun(into: &batch, timeoutMilliseconds: context.config.pollMilliseconds)) ?? 0
        noteExhaustions(io.pool)
        return n
    }

    /// Refills `batch` from the UDP socket; counts pool exhaustion and datagrams too large for a slot.
    @inline(__always)
    mutating func receiveUDP<IO: PacketIO & ~Copyable>(_ io: inout IO, into batch: inout PacketBatch,
                                                        truncated: inout UInt64) -> Int {
        batch.removeAll()
        let n = (try? io.receiveUDP(into: &batch, timeoutMilliseconds: context.config.pollMilliseconds)) ?? 0
        noteExhaustions(io.pool)
        noteTruncations(io.truncatedReceives, since: &truncated)
        return n
    }

    /// After each receive: counts datagrams the engine refused as too large for a slot.
    @inline(__always)
    func noteTruncations(_ now: UInt64, since last: inout UInt64) {
        guard now != last else { return }
        context.counters.addDrops(DropReason.oversizedDatagram.index, now &- last)
        last = now
    }

    /// The peer table for this batch: one atomic load, and a new snapshot only when it changed.
    @inline(__always)
    mutating func peers() -> PeerTable {
        if context.directory.version != snapshot.version { snapshot = context.directory.snapshot() }
        return snapshot.table
    }

    /// Writes the queued ICMP errors into the TUN and empties `replies`.
    @inline(__always)
    func writeReplies<IO: PacketIO & ~Copyable>(_ replies: inout PacketBatch, io: inout IO) {
        guard !replies.isEmpty else { return }
        let written = (try? io.writeTun(replies)) ?? 0
        context.counters.add(.icmpErrorsSent, UInt64(written))
        replies.removeAll()
    }

    /// Ends a batch: the drop tallies go to the shared counters.
    @inline(__always)
    mutating func flush() { drops.flush(to: context.counters) }
}

/// What every datapath loop holds: the shared context, and the configuration through it.
protocol DatapathLoop: PacketIOUser {
    var context: LoopContext { get }
}

extension DatapathLoop {
    var config: ForwarderConfiguration { context.config }
}
