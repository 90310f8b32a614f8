import Foundation
import Synchronization
import Testing
@testable import TwillControl
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct FileLockTests {
    final class Counters: Sendable {
        let inside = Atomic<Int>(0)
        let overlaps = Atomic<Int>(0)
        let entries = Atomic<Int>(0)
    }

    @Test func holdersNeverOverlap() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/sub/store.lock"
            let counters = Counters()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        for _ in 0..<10 {
                            try await FileLock.withExclusiveLock(path, timeout: .seconds(20)) {
                                if counters.inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 {
                                    counters.overlaps.add(1, ordering: .sequentiallyConsistent)
                                }
                                counters.entries.add(1, ordering: .sequentiallyConsistent)
                                usleep(200)
                                counters.inside.subtract(1, ordering: .sequentiallyConsistent)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(counters.overlaps.load(ordering: .sequentiallyConsistent) == 0)
            #expect(counters.entries.load(ordering: .sequentiallyConsistent) == 80)
        }
    }

    @Test func timesOutWhileAnotherDescriptorHoldsTheLock() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/store.lock"
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            #expect(fd >= 0)
            defer { close(fd) }
            #expect(flock(fd, LOCK_EX) == 0)
            let start = ContinuousClock.now
            await #expect(throws: LeaseStoreError.lockTimeout(path: path, waited: .milliseconds(150))) {
                try await FileLock.withExclusiveLock(path, timeout: .milliseconds(150)) { 1 }
            }
            #expect(ContinuousClock.now - start >= .milliseconds(150))
            // Released: the next attempt gets in.
            #expect(flock(fd, LOCK_UN) == 0)
            #expect(try await FileLock.withExclusiveLock(path, timeout: .seconds(1)) { 7 } == 7)
        }
    }

    @Test func releasesTheLockWhenTheBodyThrows() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/store.lock"
            await #expect(throws: CancellationError.self) {
                try await FileLock.withExclusiveLock(path, timeout: .seconds(1)) { throw CancellationError() }
            }
            #expect(try await FileLock.withExclusiveLock(path, timeout: .milliseconds(100)) { true })
        }
    }

    @Test func waitingIsCancellable() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/store.lock"
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            defer { close(fd) }
            #expect(flock(fd, LOCK_EX) == 0)
            let waiter = Task { try await FileLock.withExclusiveLock(path, timeout: .seconds(30)) { 1 } }
            try await Task.sleep(for: .milliseconds(50))
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
        }
    }
}
