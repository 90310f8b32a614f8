import Glibc

/// Checks `condition` every 10 ms for up to 2 s (datapath threads update counters asynchronously).
public func waitFor(_ condition: () -> Bool) -> Bool {
    for _ in 0..<200 {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// One datagram from `fd`, waiting at most `timeout` ms; nil when none came.
public func receiveDatagram(_ fd: Int32, timeout: Int32 = 2000) -> [UInt8]? {
    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&pfd, 1, timeout) == 1 else { return nil }
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = recv(fd, &buf, buf.count, 0)
    return n > 0 ? Array(buf[0..<n]) : nil
}
