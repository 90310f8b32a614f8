import Foundation
import Glibc

/// systemd's notification protocol (sd_notify(3)) without libsystemd: one datagram of
/// `KEY=VALUE` lines to the unix socket named by $NOTIFY_SOCKET, where a leading '@' means the
/// abstract namespace. Without $NOTIFY_SOCKET (not started by systemd) every call does nothing.
struct SystemdNotifier: Sendable {
    /// The socket address bytes for sun_path (the abstract form starts with a NUL).
    private let path: [UInt8]?
    /// How often to send WATCHDOG=1: half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises;
    /// nil when systemd expects no watchdog pings from this process.
    let watchdogInterval: Duration?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let socket = environment["NOTIFY_SOCKET"], socket.count > 1,
           socket.hasPrefix("/") || socket.hasPrefix("@") {
            var bytes = Array(socket.utf8)
            if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
            path = bytes
        } else {
            path = nil
        }
        // WATCHDOG_PID, when set, names the process the watchdog is meant for (a child must not ping).
        let forUs = environment["WATCHDOG_PID"].map { pid_t($0) == getpid() } ?? true
        if path != nil, forUs, let usec = environment["WATCHDOG_USEC"].flatMap({ UInt64($0) }), usec > 0 {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    var isEnabled: Bool { path != nil }

    /// READY=1 with a status line: start-up is complete (the subnet file exists).
    func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    func status(_ text: String) { send("STATUS=\(text)") }

    func watchdog() { send("WATCHDOG=1") }

    func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }

    /// Sends one message; failures are ignored, as with sd_notify: the daemon runs the same either way.
    func send(_ message: String) {
        guard let path else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        // The abstract name's length is exact (no terminating NUL), so pass it precisely.
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + path.count + (path[0] == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
    }
}
