import Synchronization

/// Tells datapath loops to finish their current batch and return.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func stop() { flag.store(true, ordering: .releasing) }
    @inline(__always) public var isStopped: Bool { flag.load(ordering: .acquiring) }
}
