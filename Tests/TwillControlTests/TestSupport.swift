import Foundation
import Logging
import Synchronization
@testable import TwillControl
import TwillWire

/// A fresh directory under the system temp dir, removed when `body` returns or throws.
func withTemporaryDirectory(_ body: (String) async throws -> Void) async throws {
    let path = FileManager.default.temporaryDirectory.path + "/twill-control-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try await body(path)
}

/// A deterministic generator (SplitMix64) so tests can pin the allocator's random choice.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Keeps test output quiet; the store's log lines are not under test.
let quietLogger = Logger(label: "twill.control.test") { _ in SwiftLogNoOpLogHandler() }

func ip(_ text: String) -> IPv4Address { IPv4Address(text)! }

func subnet(_ text: String) -> IPv4Subnet { IPv4Subnet(text)! }

func mac(_ text: String) -> MACAddress { MACAddress(text)! }

func config(_ json: String) throws -> NetworkConfig { try NetworkConfig(jsonString: json) }

func readBytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

func writeText(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: AtomicFile.parentDirectory(of: path),
                                            withIntermediateDirectories: true)
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
        throw ControlFileError(path: path, operation: "write", reason: "test setup failed")
    }
}

/// Waits until `condition` holds, polling; false when `timeout` passes first.
func eventually(timeout: Duration = .seconds(5), _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}

/// Collects what a lease watch yields, from a task of its own, so tests can wait for a snapshot
/// without handing a stream iterator between tasks.
final class WatchRecorder: Sendable {
    private struct State {
        var snapshots: [[Lease]] = []
        var error: (any Error)?
        var finished = false
        var task: Task<Void, Never>?
    }

    private let state = Mutex(State())

    private init() {}

    static func start(_ stream: AsyncThrowingStream<[Lease], Error>) -> WatchRecorder {
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

    var snapshots: [[Lease]] { state.withLock { $0.snapshots } }
    var latest: [Lease]? { snapshots.last }
    var error: (any Error)? { state.withLock { $0.error } }
    var finished: Bool { state.withLock { $0.finished } }

    func cancel() { state.withLock { $0.task?.cancel() } }
}
