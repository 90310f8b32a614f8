import Synchronization

/// Packet, byte and drop counters shared by the datapath threads and read by the control plane.
/// The loops count locally per batch and add here once per batch (relaxed atomics, no locks).
public final class DatapathCounters: @unchecked Sendable {
    public enum Counter: Int, CaseIterable, Sendable {
        /// Packets read from the TUN and bytes of inner packets.
        case tunReadPackets, tunReadBytes
        /// Encapsulated packets sent and their UDP payload bytes.
        case sentPackets, sentBytes
        /// Datagrams received and their UDP payload bytes.
        case receivedPackets, receivedBytes
        /// Decapsulated packets written to the TUN and their bytes.
        case tunWritePackets, tunWriteBytes
        /// ICMP errors written back into the TUN.
        case icmpErrorsSent
        /// Times a pool had no free slot (reading paused).
        case poolExhaustions
        /// Batches processed on each side (their sizes follow from the packet counts).
        case egressBatches, ingressBatches
        /// Times UDP GSO was switched off because the kernel refused a GSO send (EIO).
        case gsoDisabled
    }

    // Atomic is non-copyable, so the counters live in raw memory owned by this object.
    private let counters: UnsafeMutablePointer<Atomic<UInt64>>
    private let drops: UnsafeMutablePointer<Atomic<UInt64>>

    public init() {
        counters = .allocate(capacity: Counter.allCases.count)
        for i in 0..<Counter.allCases.count { (counters + i).initialize(to: Atomic(0)) }
        drops = .allocate(capacity: DropReason.count)
        for i in 0..<DropReason.count { (drops + i).initialize(to: Atomic(0)) }
    }

    deinit {
        counters.deinitialize(count: Counter.allCases.count)
        counters.deallocate()
        drops.deinitialize(count: DropReason.count)
        drops.deallocate()
    }

    @inline(__always)
    public func add(_ c: Counter, _ n: UInt64) {
        if n != 0 { counters[c.rawValue].wrappingAdd(n, ordering: .relaxed) }
    }

    @inline(__always)
    public func addDrops(_ reasonIndex: Int, _ n: UInt64) {
        if n != 0 { drops[reasonIndex].wrappingAdd(n, ordering: .relaxed) }
    }

    public func value(_ c: Counter) -> UInt64 { counters[c.rawValue].load(ordering: .relaxed) }

    public func drops(_ reason: DropReason) -> UInt64 { drops[reason.index].load(ordering: .relaxed) }

    /// Every drop reason with its count (zeros included).
    public func dropSnapshot() -> [(reason: DropReason, count: UInt64)] {
        DropReason.all.map { ($0, drops($0)) }
    }

    public var totalDrops: UInt64 { DropReason.all.reduce(0) { $0 + drops($1) } }
}

/// Per-batch tallies kept in the loop's own memory, flushed to the shared counters once per batch.
struct DropTally {
    private var counts: [UInt64]
    private var dirty = false

    init() { counts = Array(repeating: 0, count: DropReason.count) }

    @inline(__always)
    mutating func count(_ reason: DropReason) {
        counts[reason.index] &+= 1
        dirty = true
    }

    @inline(__always)
    mutating func flush(to counters: DatapathCounters) {
        guard dirty else { return }
        for i in 0..<counts.count where counts[i] != 0 {
            counters.addDrops(i, counts[i])
            counts[i] = 0
        }
        dirty = false
    }
}
