import Foundation
import Logging
import Synchronization
import TwillControl

/// `--ip-masq`: installs `MasqueradeRules` with nft, puts them back when they change or disappear
/// (checked every `--iptables-resync` seconds), and removes the table on shutdown.
final class IPMasquerade: Sendable {
    let rules: MasqueradeRules
    private let nft: String
    private let logger: Logger
    /// What `nft list table <family> twill` printed for each table right after our own apply: nft's
    /// normal form of our ruleset on this host, so a later listing that differs means someone changed it.
    private let applied = Mutex<[String: String]>([:])

    init(rules: MasqueradeRules, logger: Logger) throws(IPMasqueradeError) {
        guard let nft = IPMasquerade.locateNFT() else { throw .nftMissing }
        self.rules = rules
        self.nft = nft
        self.logger = logger
    }

    /// Replaces the tables in one transaction and records how nft lists them.
    func apply() throws(IPMasqueradeError) {
        _ = try run([nft, "-f", "-"], input: rules.applyScript)
        var listings: [String: String] = [:]
        for family in rules.families { listings[family] = try run([nft] + MasqueradeRules.listArguments(family: family)) }
        applied.withLock { $0 = listings }
    }

    /// Re-applies when a table is gone or differs from what was applied. True when it did.
    func check() throws(IPMasqueradeError) -> Bool {
        let expected = applied.withLock { $0 }
        for family in rules.families {
            let current = try? run([nft] + MasqueradeRules.listArguments(family: family))
            if let current, current == expected[family] { continue }
            try apply()
            logger.warning("ip-masq: table \(family) \(MasqueradeRules.table) \(current == nil ? "was missing" : "had been changed"); restored it")
            return true
        }
        return false
    }

    /// Every `period`, until cancelled.
    func resyncLoop(every period: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: period) } catch { return }
            do { _ = try check() } catch { logger.error("ip-masq: restoring the rules failed: \(error)") }
        }
    }

    func remove() {
        for family in rules.families {
            do {
                _ = try run([nft] + MasqueradeRules.deleteArguments(family: family))
                logger.info("ip-masq: table \(family) \(MasqueradeRules.table) removed")
            } catch {
                logger.warning("ip-masq: removing table \(family) \(MasqueradeRules.table) failed: \(error)")
            }
        }
    }

    /// nft from /usr/sbin or /sbin (a service's PATH may lack them), else from PATH.
    static func locateNFT(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return (["/usr/sbin", "/sbin"] + path).map { "\($0)/nft" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs nft, bounded to 10 s; its standard output, or an error with its exit status and stderr.
    private func run(_ command: [String], input: String? = nil) throws(IPMasqueradeError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let shown = command.map { $0 == nft ? "nft" : $0 }.joined(separator: " ")
        do { try process.run() } catch { throw .failed(command: shown, status: -1, message: "\(error)") }
        let timer = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 10, execute: timer)
        defer { timer.cancel() }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        // The outputs are small (one table), so reading one pipe to its end cannot block the other.
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, process.terminationReason == .exit else {
            let message = String(decoding: err, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            throw .failed(command: shown, status: process.terminationStatus, message: message)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum IPMasqueradeError: Error, CustomStringConvertible {
    case nftMissing
    case failed(command: String, status: Int32, message: String)

    var description: String {
        switch self {
        case .nftMissing:
            "--ip-masq needs nft (Debian package nftables): not found in /usr/sbin, /sbin or PATH"
        case .failed(let command, let status, let message):
            "--ip-masq: '\(command)' failed (exit \(status)): \(message.isEmpty ? "no message" : message)"
        }
    }
}
