import CLiburing
import Glibc
import TwillWire

/// A non-blocking UDP socket bound to an address and port, IPv4 or IPv6.
public final class UDPSocket: Sendable {
    public let fd: Int32
    public let localAddress: SocketAddress
    /// The receive/send buffer sizes the kernel granted.
    public let receiveBufferSize: Int
    public let sendBufferSize: Int

    /// - Parameters:
    ///   - reusePort: SO_REUSEPORT, so several sockets (one per queue) share the port.
    ///   - bufferSize: SO_RCVBUF/SO_SNDBUF; forced past the sysctl limits when running as root.
    public init(bind address: IPAddress, port: UInt16, reusePort: Bool = false,
                bufferSize: Int = 4 << 20) throws(IOError) {
        let family: Int32
        if case .v6 = address { family = AF_INET6 } else { family = AF_INET }
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError.last("socket") }
        var one: Int32 = 1
        if reusePort && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, 4) != 0 {
            let e = IOError.last("setsockopt SO_REUSEPORT"); close(fd); throw e
        }
        if family == AF_INET6 { _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, 4) }
        UDPSocket.setBuffers(fd, bufferSize)
        var sa = SocketAddress(address, port: port)
        let rc = withUnsafePointer(to: &sa.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, sa.length) }
        }
        guard rc == 0 else { let e = IOError.last("bind \(sa)"); close(fd); throw e }
        var bound = SocketAddress()
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &bound.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        bound.length = len
        self.fd = fd
        self.localAddress = bound
        self.receiveBufferSize = UDPSocket.option(fd, SO_RCVBUF)
        self.sendBufferSize = UDPSocket.option(fd, SO_SNDBUF)
    }

    deinit { close(fd) }

    private static func setBuffers(_ fd: Int32, _ size: Int) {
        var v = Int32(clamping: size)
        // FORCE works for root (CAP_NET_ADMIN) and ignores net.core.rmem_max; fall back to the capped one.
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, 4) != 0 { _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, 4) }
        if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, 4) != 0 { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, 4) }
    }

    private static func option(_ fd: Int32, _ name: Int32) -> Int {
        var v: Int32 = 0
        var len = socklen_t(4)
        _ = getsockopt(fd, SOL_SOCKET, name, &v, &len)
        return Int(v)
    }

    /// Makes this a send-only socket: a filter drops every datagram that arrives, so its port queues
    /// nothing and reads nothing (per-queue send sockets of the datapath).
    public func refuseReceives() throws(IOError) {
        let rc = twill_socket_drop_all(fd)
        guard rc == 0 else { throw IOError("SO_ATTACH_FILTER", errno: -rc) }
    }

    /// The bound port (useful after binding port 0).
    public var port: UInt16 { localAddress.port }

    /// Sends one datagram (blocking semantics are not used: EAGAIN is reported). For tests and tools;
    /// the datapath sends batches through a `PacketIO`.
    public func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) throws(IOError) {
        var a = address
        let n = withUnsafePointer(to: &a.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes.baseAddress, bytes.count, 0, $0, a.length)
            }
        }
        guard n >= 0 else { throw IOError.last("sendto") }
    }
}
