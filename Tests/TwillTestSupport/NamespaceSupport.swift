import Foundation
import Glibc
import TwillIO

/// True when this process runs as root in a network namespace other than the one it was started
/// from, where tests may create TUN devices and addresses. `scripts/test.sh` records the outer
/// namespace's inode in TWILL_OUTER_NETNS and runs the suite inside a namespace it creates.
public func inPrivateNetworkNamespace() -> Bool {
    guard geteuid() == 0, let outer = ProcessInfo.processInfo.environment["TWILL_OUTER_NETNS"],
          let outerInode = UInt64(outer) else { return false }
    var own = stat()
    guard stat("/proc/self/ns/net", &own) == 0 else { return false }
    return UInt64(own.st_ino) != outerInode
}

/// Runs a command and returns its exit status and combined output.
@discardableResult
public func sh(_ command: String) -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    do { try p.run() } catch { return (127, "\(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The engines every I/O test runs against.
public enum EngineVariant: String, CaseIterable, CustomStringConvertible, Sendable {
    case uringMultishot, uringSingleReads, syscalls
    public var description: String { rawValue }

    public func choice() throws -> IOEngineChoice {
        try IOEngineSelector.choose(self == .syscalls ? .syscalls : .uring)
    }

    public func configuration(tunFD: Int32 = -1, udpFD: Int32 = -1, batchSize: Int = 64) -> PacketIOConfiguration {
        PacketIOConfiguration(tunFD: tunFD, udpFD: udpFD, batchSize: batchSize,
                              disableMultishotRead: self == .uringSingleReads)
    }
}

/// Where the built executables are (`make test` sets TWILL_BIN_DIR).
public func binaryPath(_ name: String) -> String {
    if let dir = ProcessInfo.processInfo.environment["TWILL_BIN_DIR"] { return dir + "/" + name }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/\(name)").path
}
