import Foundation
import TwillTestSupport
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


func ip6(_ text: String) -> IPv6Address { IPv6Address(text)! }

func subnet6(_ text: String) -> IPv6Subnet { IPv6Subnet(text)! }
