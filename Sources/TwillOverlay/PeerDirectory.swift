import Synchronization

/// Where the control plane publishes peer-table snapshots for the datapath.
///
/// Publishing swaps the snapshot under a short lock and bumps a version; the datapath compares the
/// version (one atomic load) once per batch and takes the lock only when it changed, so it never
/// waits on the control plane in the steady state and takes no lock per packet.
public final class PeerDirectory: Sendable {
    private let table: Mutex<PeerTable>
    private let versionCounter = Atomic<UInt64>(1)

    public init(_ initial: PeerTable = .empty) {
        table = Mutex(initial)
    }

    public func publish(_ newTable: PeerTable) {
        table.withLock { $0 = newTable }
        versionCounter.wrappingAdd(1, ordering: .releasing)
    }

    /// Increases on every publish.
    @inline(__always)
    public var version: UInt64 { versionCounter.load(ordering: .acquiring) }

    /// The current snapshot and its version.
    public func snapshot() -> (table: PeerTable, version: UInt64) {
        let v = version
        return (table.withLock { $0 }, v)
    }
}
