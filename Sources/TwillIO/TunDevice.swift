import CLiburing
import Glibc

/// A TUN device (IFF_TUN | IFF_NO_PI): one non-blocking file descriptor per queue.
///
/// The device lives while a queue is open (it is not made persistent), so closing it removes the
/// device and every route through it: a clean shutdown leaves nothing behind.
public final class TunDevice: @unchecked Sendable {
    public let name: String
    public let queues: [Int32]
    /// Each packet is preceded by a 10-byte virtio_net_hdr (IFF_VNET_HDR).
    public let vnetHeader: Bool
    private var closed = false

    /// Creates the device, or attaches to an existing one of that name.
    /// - Parameters:
    ///   - queueCount: more than one opens the device with IFF_MULTI_QUEUE, one fd per queue.
    public init(name: String, queueCount: Int = 1, vnetHeader: Bool = false) throws(IOError) {
        precondition(queueCount >= 1, "TunDevice needs at least one queue")
        var flags = TWILL_IFF_TUN | TWILL_IFF_NO_PI
        if vnetHeader { flags |= TWILL_IFF_VNET_HDR }
        if queueCount > 1 { flags |= TWILL_IFF_MULTI_QUEUE }
        var fds: [Int32] = []
        var actual = name
        for _ in 0..<queueCount {
            let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else {
                let e = IOError.last("open /dev/net/tun")
                fds.forEach { _ = Glibc.close($0) }
                throw e
            }
            var out = [CChar](repeating: 0, count: Int(IFNAMSIZ))
            let rc = twill_tun_set_iff(fd, actual, flags, &out)
            guard rc == 0 else {
                Glibc.close(fd)
                fds.forEach { _ = Glibc.close($0) }
                throw IOError("TUNSETIFF \(name)", errno: -rc)
            }
            actual = String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let nb = twill_set_nonblocking(fd)
            guard nb == 0 else {
                Glibc.close(fd)
                fds.forEach { _ = Glibc.close($0) }
                throw IOError("O_NONBLOCK on \(name)", errno: -nb)
            }
            fds.append(fd)
        }
        self.name = actual
        self.queues = fds
        self.vnetHeader = vnetHeader
    }

    deinit { close() }

    /// Closes every queue; the device disappears with the last one.
    public func close() {
        guard !closed else { return }
        closed = true
        for fd in queues { _ = Glibc.close(fd) }
    }

    /// Enables TUN offloads (TUN_F_* flags); the kernel refuses flags it does not know.
    public func setOffload(_ flags: UInt32) throws(IOError) {
        for fd in queues {
            let rc = twill_tun_set_offload(fd, flags)
            guard rc == 0 else { throw IOError("TUNSETOFFLOAD", errno: -rc) }
        }
    }
}
