#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive flock on a sidecar lock file. flock (not fcntl) because its locks belong to the open
/// file description: two store instances in one process exclude each other just as two processes do.
/// The lock file is separate from the data file because the data file is replaced on every write.
enum FileLock {
    /// Runs `body` holding the lock. Waiting polls with a non-blocking flock and sleeps in between, so a
    /// waiting task never blocks a cooperative thread and stays cancellable.
    static func withExclusiveLock<T>(_ path: String, timeout: Duration,
                                     _ body: () throws -> T) async throws -> T {
        do {
            try AtomicFile.createDirectory(AtomicFile.parentDirectory(of: path))
        } catch {
            throw LeaseStoreError.io(path: error.path, reason: "cannot \(error.operation): \(error.reason)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = "cannot open the lock file: \(AtomicFile.systemMessage(errno))"
            throw LeaseStoreError.io(path: path, reason: reason)
        }
        // Closing the descriptor releases the lock, on every path out (and at process death).
        defer { close(fd) }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var backoff = Duration.milliseconds(1)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                throw LeaseStoreError.io(path: path, reason: "cannot lock: \(AtomicFile.systemMessage(code))")
            }
            guard clock.now < deadline else { throw LeaseStoreError.lockTimeout(path: path, waited: timeout) }
            // Jitter keeps a crowd of waiters from retrying in lockstep.
            let micros = Int.random(in: 500...max(500, Int(backoff.components.attoseconds / 1_000_000_000_000)))
            try await Task.sleep(for: .microseconds(micros))
            backoff = min(backoff * 2, .milliseconds(20))
        }
        return try body()
    }
}
