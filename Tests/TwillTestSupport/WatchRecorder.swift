import Synchronization
import TwillControl

/// Collects what a lease watch yields, from a task of its own, so tests can wait for a snapshot
/// without handing a stream iterator between tasks.
public final class WatchRecorder: Sendable {
    private struct State {
        public var snapshots: [[Lease]] = []
        public var error: (any Error)?
        var finished = false
        var task: Task<Void, Never>?
    }

    private let state = Mutex(State())

    private init() {}

    public static func start(_ stream: AsyncThrowingStream<[Lease], Error>) -> WatchRecorder {
        let recorder = WatchRecorder()
        let task = Task {
            do {
                for try await snapshot in stream { recorder.state.withLock { $0.snapshots.append(snapshot) } }
                recorder.state.withLock { $0.finished = true }
            } catch {
                recorder.state.withLock {
                    $0.error = error
                    $0.finished = true
                }
            }
        }
        recorder.state.withLock { $0.task = task }
        return recorder
    }

    public var snapshots: [[Lease]] { state.withLock { $0.snapshots } }
    public var latest: [Lease]? { snapshots.last }
    public var error: (any Error)? { state.withLock { $0.error } }
    public var finished: Bool { state.withLock { $0.finished } }

    public func cancel() { state.withLock { $0.task?.cancel() } }
}
