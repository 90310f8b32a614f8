import CLiburing
import Glibc

/// The portable engine: readv/writev on the TUN, recvmmsg/sendmmsg on UDP, epoll for readiness.
/// Chosen where io_uring is unavailable (seccomp profiles of Docker/containerd, old kernels).
public struct SyscallPacketIO: PacketIO, ~Copyable {
    public var engine: IOEngineKind { .syscalls }
    let config: PacketIOConfiguration
    public unowned(unsafe) let pool: PacketPool
    let tunEpoll: Int32
    let udpEpoll: Int32
    let messages: UnsafeMutablePointer<twill_mmsghdr>
    let iovecs: UnsafeMutablePointer<iovec>
    let slotIndices: UnsafeMutablePointer<UInt32>
    let names: UnsafeMutablePointer<SocketAddress>
    /// Per message room for a UDP_GRO control message.
    let controls: UnsafeMutableRawPointer
    public private(set) var truncatedReceives: UInt64 = 0
    public private(set) var gsoSendFailures: UInt64 = 0
    /// Which underlay socket receives first next time.
    var receiveTurn = false
    static let controlSpace = 32

    public init(_ config: PacketIOConfiguration, pool: PacketPool) throws(IOError) {
        func epoll(for fds: [Int32], _ what: String) throws(IOError) -> Int32 {
            let fds = fds.filter { $0 >= 0 }
            guard !fds.isEmpty else { return -1 }
            let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
            guard ep >= 0 else { throw IOError.last("epoll_create1") }
            for fd in fds {
                var ev = epoll_event()
                ev.events = EPOLLIN.rawValue
                ev.data.fd = fd
                guard epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 else {
                    let e = IOError.last("epoll_ctl \(what)")
                    close(ep)
                    throw e
                }
            }
            return ep
        }
        let t = try epoll(for: [config.tunFD], "tun")
        let u: Int32
        do { u = try epoll(for: [config.udpFD, config.udp6FD], "udp") } catch { if t >= 0 { close(t) }; throw error }
        self.config = config
        self.pool = pool
        self.tunEpoll = t
        self.udpEpoll = u
        let n = config.batchSize
        messages = .allocate(capacity: n)
        messages.initialize(repeating: twill_mmsghdr(), count: n)
        iovecs = .allocate(capacity: n)
        iovecs.initialize(repeating: iovec(), count: n)
        slotIndices = .allocate(capacity: n)
        names = .allocate(capacity: n)
        names.initialize(repeating: SocketAddress(), count: n)
        controls = .allocate(byteCount: n * SyscallPacketIO.controlSpace, alignment: 8)
    }

    deinit {
        if tunEpoll >= 0 { close(tunEpoll) }
        if udpEpoll >= 0 { close(udpEpoll) }
        messages.deallocate()
        iovecs.deallocate()
        slotIndices.deallocate()
        names.deallocate()
        controls.deallocate()
    }

    /// Waits until `ep`'s one descriptor is readable or the timeout passes; true when readable.
    private func waitReadable(_ ep: Int32, _ timeoutMilliseconds: Int32) -> Bool {
        var ev = epoll_event()
        return epoll_wait(ep, &ev, 1, timeoutMilliseconds) > 0
    }

    public mutating func readTun(into batch: inout PacketBatch, timeoutMilliseconds: Int32) throws(IOError) -> Int {
        precondition(batch.pool === pool, "a batch must come from the engine's pool")
        let fd = config.tunFD
        let headroom = pool.headroom
        let room = pool.slotSize - headroom
        var n = 0
        var waited = false
        while batch.count < batch.capacity {
            guard let index = pool.acquireIndex() else { break }
            var iov = iovec(iov_base: pool.address(of: index) + headroom, iov_len: room)
            let r = readv(fd, &iov, 1)
            if r > 0 {
                batch.appendIndex(index, offset: headroom, length: r)
                n += 1
                continue
            }
            let err = errno
            pool.releaseIndex(index)
            if r < 0 && err == EINTR { continue }
            if r < 0 && err == EAGAIN {
                if n > 0 || waited { break }
                waited = true
                if !waitReadable(tunEpoll, timeoutMilliseconds) { break }
                continue
            }
            if r == 0 { break }
            throw IOError("readv tun", errno: err)
        }
        return n
    }

    public mutating func writeTun(_ batch: borrowing PacketBatch) throws(IOError) -> Int {
        var written = 0
        for i in 0..<batch.count where batch.length(i) > 0 {
            let p = batch.packet(i)
            var iov = iovec(iov_base: p.baseAddress, iov_len: p.count)
            let r = writev(config.tunFD, &iov, 1)
            // A packet the kernel refuses (EINVAL, EIO) loses only itself.
            if r > 0 { written += 1 }
        }
        return written
    }

    public mutating func receiveUDP(into batch: inout PacketBatch, timeoutMilliseconds: Int32) throws(IOError) -> Int {
        precondition(batch.pool === pool, "a batch must come from the engine's pool")
        var waited = false
        while true {
            // Both underlay sockets in turn (no array: this runs for every batch); the first to start
            // alternates so neither starves the other.
            let (first, second) = receiveTurn ? (config.udp6FD, config.udpFD) : (config.udpFD, config.udp6FD)
            receiveTurn.toggle()
            var got = first >= 0 ? try receiveOnce(first, into: &batch) : 0
            if second >= 0 { got += try receiveOnce(second, into: &batch) }
            if got > 0 { return got }
            if batch.count == batch.capacity || pool.available == 0 { return 0 }
            if waited || !waitReadable(udpEpoll, timeoutMilliseconds) { return 0 }
            waited = true
        }
    }

    /// One non-blocking recvmmsg on `fd` into the batch's free room; how many were appended.
    private mutating func receiveOnce(_ fd: Int32, into batch: inout PacketBatch) throws(IOError) -> Int {
        while true {
            var k = 0
            while k < batch.capacity - batch.count && k < config.batchSize, let index = pool.acquireIndex() {
                slotIndices[k] = index
                iovecs[k] = iovec(iov_base: pool.address(of: index), iov_len: pool.slotSize)
                messages[k] = twill_mmsghdr()
                messages[k].msg_hdr.msg_name = UnsafeMutableRawPointer(names + k)
                messages[k].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
                messages[k].msg_hdr.msg_iov = iovecs + k
                messages[k].msg_hdr.msg_iovlen = 1
                if config.udpGRO {
                    messages[k].msg_hdr.msg_control = controls + k * SyscallPacketIO.controlSpace
                    messages[k].msg_hdr.msg_controllen = SyscallPacketIO.controlSpace
                }
                k += 1
            }
            if k == 0 { return 0 }
            let r = twill_recvmmsg(fd, messages, UInt32(k), Int32(MSG_DONTWAIT))
            let err = errno
            let got = max(Int(r), 0)
            var appended = 0
            for j in 0..<got {
                let len = Int(messages[j].msg_len)
                // A datagram larger than the slot was cut short: refuse it rather than forward a fragment.
                // An empty one is handed on like any other (the loop counts it as truncated).
                if messages[j].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 {
                    truncatedReceives &+= 1
                    pool.releaseIndex(slotIndices[j])
                    continue
                }
                var a = names[j]
                a.length = messages[j].msg_hdr.msg_namelen
                batch.appendIndex(slotIndices[j], offset: 0, length: len)
                batch.setAddress(batch.count - 1, a)
                appended += 1
                if config.udpGRO {
                    let size = Int(twill_msg_udp_gro_size(&messages[j].msg_hdr))
                    if size > 0 && size < len { batch.setSegmentSize(batch.count - 1, size) }
                }
            }
            for j in got..<k { pool.releaseIndex(slotIndices[j]) }
            if r > 0 { return appended }
            if err == EINTR { continue }
            guard err == EAGAIN else { throw IOError("recvmmsg", errno: err) }
            return 0
        }
    }

    public mutating func sendUDP(_ batch: borrowing PacketBatch) throws(IOError) -> Int {
        var k = 0
        for i in 0..<batch.count where batch.length(i) > 0 {
            let p = batch.packet(i)
            iovecs[k] = iovec(iov_base: p.baseAddress, iov_len: p.count)
            messages[k] = twill_mmsghdr()
            messages[k].msg_hdr.msg_name = UnsafeMutableRawPointer(batch.addressPointer(i))
            messages[k].msg_hdr.msg_namelen = batch.address(i).length
            messages[k].msg_hdr.msg_iov = iovecs + k
            messages[k].msg_hdr.msg_iovlen = 1
            k += 1
            if k == config.batchSize { break }
        }
        return sendMessages(messages, count: k, segmentSizes: nil)
    }

    public mutating func sendUDP(_ v: borrowing IOVectorBatch) throws(IOError) -> Int {
        sendMessages(v.message(0), count: v.count, segmentSizes: v.segmentSizes)
    }

    /// sendmmsg until every message went or failed. A full socket buffer gives the receiver a moment
    /// (bounded); a message the kernel refuses (ECONNREFUSED left by an earlier ICMP error,
    /// EHOSTUNREACH, EIO for a GSO send the device cannot segment) is skipped.
    private mutating func sendMessages(_ messages: UnsafeMutablePointer<twill_mmsghdr>, count k: Int,
                                       segmentSizes: UnsafeMutablePointer<Int>?) -> Int {
        var sent = 0
        var start = 0
        var spins = 0
        while start < k {
            // A run of messages to one address family goes through that family's socket.
            let family = SyscallPacketIO.family(messages[start])
            var end = start + 1
            if config.udp6FD >= 0 {
                while end < k && SyscallPacketIO.family(messages[end]) == family { end += 1 }
            } else {
                end = k
            }
            let fd = config.sendFD(family: family)
            let r = twill_sendmmsg(fd, messages + start, UInt32(end - start), 0)
            if r > 0 {
                sent += Int(r)
                start += Int(r)
                continue
            }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN && spins < 1000 {
                spins += 1
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, 10)
                continue
            }
            if err == EIO, let sizes = segmentSizes, sizes[start] > 0 { gsoSendFailures &+= 1 }
            start += 1
        }
        return sent
    }

    /// The family of a message's destination (0 when it has none).
    @inline(__always)
    private static func family(_ m: twill_mmsghdr) -> Int32 {
        guard let name = m.msg_hdr.msg_name else { return 0 }
        return Int32(name.load(as: sa_family_t.self))
    }

    public mutating func writeTun(_ v: borrowing IOVectorBatch) throws(IOError) -> Int {
        var written = 0
        for i in 0..<v.count {
            let (vectors, n) = v.vectors(i)
            if writev(config.tunFD, vectors, Int32(n)) > 0 { written += 1 }
        }
        return written
    }
}
