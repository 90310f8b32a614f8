import Foundation
import TwillControl

/// The plugin the container is handed to, found by name in CNI_PATH as the spec has runtimes find
/// plugins, and run with this process's environment (the same CNI_COMMAND and CNI_* values).
struct DelegatePlugin {
    struct Run {
        var executable: String
        var status: Int32
        /// "exit status 1" or "killed by signal 9".
        var outcome: String
        var output: [UInt8]
    }

    let executable: String

    init(type: String, searchPath: [String]) throws(CNIError) {
        for directory in searchPath where !directory.isEmpty {
            let candidate = directory.hasSuffix("/") ? directory + type : directory + "/" + type
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                executable = candidate
                return
            }
        }
        throw CNIError(.invalidEnvironment, "the delegate plugin \"\(type)\" is not an executable in any CNI_PATH "
            + "directory (\(searchPath.joined(separator: ":")))")
    }

    /// Runs it with `config` on stdin; its stderr is ours, its stdout is collected.
    func run(config: [UInt8]) throws(CNIError) -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = []
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw CNIError(.ioFailure, "cannot start the delegate plugin \(executable): \(error)")
        }
        // After the spawn, so the delegate keeps the default: a delegate that exits without reading
        // its config must not take this process down with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        try? input.fileHandleForWriting.write(contentsOf: config)
        try? input.fileHandleForWriting.close()
        let collected = (try? output.fileHandleForReading.readToEnd()) ?? nil
        process.waitUntilExit()
        // For a delegate killed by a signal, Foundation reports the signal's number (never 0) as the status.
        let status = process.terminationStatus
        let outcome = process.terminationReason == .uncaughtSignal ? "killed by signal \(status)" : "exit status \(status)"
        return Run(executable: executable, status: status, outcome: outcome, output: [UInt8](collected ?? Data()))
    }
}
