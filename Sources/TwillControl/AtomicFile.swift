import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and crash-safe replacement: readers (other daemons, the CNI plugin) see either the
/// old or the new file, never a torn one.
enum AtomicFile {
    /// The file's bytes, or nil when it does not exist.
    static func contents(of path: String) throws(ControlFileError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw ControlFileError(path: path, operation: "open", reason: systemMessage(code))
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ControlFileError(path: path, operation: "read", reason: systemMessage(code))
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[..<n])
        }
    }

    /// Writes a temporary file beside `path`, syncs it, renames it over `path` and syncs the directory,
    /// creating missing parent directories first.
    static func replace(_ path: String, with bytes: some Collection<UInt8>, permissions: mode_t = 0o644)
        throws(ControlFileError) {
        let temporary = try writeTemporary(beside: path, bytes: bytes, permissions: permissions)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw ControlFileError(path: path, operation: "rename into place", reason: systemMessage(code))
        }
        syncDirectory(of: path)
    }

    /// Like `replace`, but only when `path` does not exist yet: the complete file appears at once (via
    /// link, which refuses to overwrite). Returns false, changing nothing, when the file already exists.
    static func create(_ path: String, with bytes: some Collection<UInt8>, permissions: mode_t = 0o644)
        throws(ControlFileError) -> Bool {
        let temporary = try writeTemporary(beside: path, bytes: bytes, permissions: permissions)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            let code = errno
            if code == EEXIST { return false }
            throw ControlFileError(path: path, operation: "create", reason: systemMessage(code))
        }
        syncDirectory(of: path)
        return true
    }

    /// A synced temporary file in `path`'s directory (so a rename or link to `path` is atomic).
    private static func writeTemporary(beside path: String, bytes: some Collection<UInt8>,
                                       permissions: mode_t) throws(ControlFileError) -> String {
        let directory = parentDirectory(of: path)
        try createDirectory(directory)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else {
            throw ControlFileError(path: temporary, operation: "create", reason: systemMessage(errno))
        }
        defer { close(fd) }
        do throws(ControlFileError) {
            let data = Array(bytes)
            var offset = 0
            while offset < data.count {
                let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw ControlFileError(path: temporary, operation: "write", reason: systemMessage(code))
                }
                offset += n
            }
            // open() applies the umask; the file's consumers expect exactly these permissions.
            if fchmod(fd, permissions) != 0 {
                throw ControlFileError(path: temporary, operation: "chmod", reason: systemMessage(errno))
            }
            if fsync(fd) != 0 {
                throw ControlFileError(path: temporary, operation: "sync", reason: systemMessage(errno))
            }
        } catch {
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// Makes a rename or link durable; a failure loses nothing already visible, so it is ignored.
    private static func syncDirectory(of path: String) {
        let fd = open(parentDirectory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// mkdir -p.
    static func createDirectory(_ directory: String) throws(ControlFileError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue {
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ControlFileError(path: directory, operation: "create directory", reason: "\(error)")
        }
    }

    static func systemMessage(_ code: Int32) -> String { String(cString: strerror(code)) }
}
