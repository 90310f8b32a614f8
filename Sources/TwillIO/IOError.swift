#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which operation, and the errno it returned.
public struct IOError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    /// From the global errno, right after a failed call.
    static func last(_ operation: String) -> IOError { IOError(operation, errno: Glibc.errno) }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
