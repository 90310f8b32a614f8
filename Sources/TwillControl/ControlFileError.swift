/// A failure reading or writing one of the daemon's small state files (subnet file, VTEP MAC file),
/// naming the file so the operator can look at it.
public struct ControlFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    /// What was being done ("read", "write", "rename into place").
    public let operation: String
    public let reason: String

    public init(path: String, operation: String, reason: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "cannot \(operation) \(path): \(reason)" }
}
