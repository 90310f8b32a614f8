import Foundation

/// Runs bash commands with the topology library loaded; every command has a time limit.
struct Shell {
    let repo: String
    nonisolated(unsafe) static var verbose = ProcessInfo.processInfo.environment["TWILL_BENCH_VERBOSE"] != nil

    struct Result {
        var status: Int32
        var output: String
        var ok: Bool { status == 0 }
    }

    @discardableResult
    func run(_ command: String, timeout: Double = 120) -> Result {
        if Shell.verbose { FileHandle.standardError.write(Data("+ \(command)\n".utf8)) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "set -o pipefail; source '\(repo)/scripts/lib/topology.sh'; \(command)"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return Result(status: 127, output: "\(error)") }
        let deadline = DispatchTime.now() + timeout
        let group = DispatchGroup()
        group.enter()
        nonisolated(unsafe) var data = Data()
        DispatchQueue.global().async {
            data = pipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        if group.wait(timeout: deadline) == .timedOut {
            p.terminate()
            _ = group.wait(timeout: .now() + 5)
            return Result(status: 124, output: String(decoding: data, as: UTF8.self) + "\n(timed out after \(timeout) s)")
        }
        p.waitUntilExit()
        return Result(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    /// Starts a command in the background (for daemons); returns immediately.
    func start(_ command: String, log: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "exec \(command) >'\(log)' 2>&1"]
        try? p.run()
    }
}
