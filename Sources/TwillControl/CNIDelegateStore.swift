#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The CNI plugin's data directory: the delegate config of each container, saved at ADD under the
/// container's ID (as flannel's plugin keeps it) so DEL and CHECK hand the delegate the same config
/// even after the subnet file changed or went away.
public struct CNIDelegateStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The ID must have passed CNIRequest's check, which keeps it a plain file name.
    public func path(of containerID: String) -> String { "\(directory)/\(containerID)" }

    /// Replaces the container's file atomically. Private to root: configs may carry runtime secrets.
    public func save(_ config: CNIDelegateConfig, for containerID: String) throws(CNIError) {
        do {
            try AtomicFile.createDirectory(AtomicFile.parentDirectory(of: directory))
        } catch {
            throw CNIError(.ioFailure, "cannot create the data directory \(directory): \(error)")
        }
        if mkdir(directory, 0o700) != 0 {
            let code = errno
            guard code == EEXIST else {
                throw CNIError(.ioFailure, "cannot create the data directory \(directory): "
                    + AtomicFile.systemMessage(code))
            }
        }
        do {
            try AtomicFile.replace(path(of: containerID), with: config.bytes, permissions: 0o600)
        } catch {
            throw CNIError(.ioFailure, "cannot save the delegate config: \(error)")
        }
    }

    /// The saved bytes, or nil when the container has none.
    public func load(_ containerID: String) throws(CNIError) -> [UInt8]? {
        do {
            return try AtomicFile.contents(of: path(of: containerID))
        } catch {
            throw CNIError(.ioFailure, "cannot read the saved delegate config: \(error)")
        }
    }

    /// Removes the container's file; one already gone is fine (DEL may be repeated).
    public func remove(_ containerID: String) throws(CNIError) {
        let path = path(of: containerID)
        if unlink(path) != 0 {
            let code = errno
            guard code == ENOENT else {
                throw CNIError(.ioFailure, "cannot remove the saved delegate config \(path): "
                    + AtomicFile.systemMessage(code))
            }
        }
    }
}
