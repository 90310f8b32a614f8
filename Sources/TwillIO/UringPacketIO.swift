import CLiburing
import Glibc

/// The io_uring engine: one ring per thread (SINGLE_ISSUER|DEFER_TASKRUN), the TUN and UDP
/// descriptors registered, multishot `recvmsg` into a provided buffer ring for UDP, READ_MULTISHOT on
/// the TUN where the kernel has it (else several single reads in flight), and batched submissions
/// of sends and writes.
///
/// Create it on the thread that will use it.
public struct UringPacketIO: PacketIO, ~Copyable {
    public var engine: IOEngineKind { .uring }

    private enum Op: UInt64 {
        case tunMultishot = 1, tunRead, udpMultishot, udpSend, tunWrite, cancel, udp6Multishot
    }
    private static let tunGroup: UInt16 = 1
    private static let udpGroup: UInt16 = 2
    private static let ownerTunRing: UInt8 = 1
    private static let ownerUDPRing: UInt8 = 2
    private static let ownerTunRead: UInt8 = 3

    let ringObject: Ring
    let ring: UnsafeMutablePointer<io_uring>
    public unowned(unsafe) let pool: PacketPool
    let config: PacketIOConfiguration
    /// Whether TUN reads use READ_MULTISHOT (else single reads).
    public let multishotRead: Bool
    let tunIndex: Int32
    let udpIndex: Int32
    /// The IPv6 underlay socket's registered index, -1 without one.
    let udp6Index: Int32
    let tunBuffers: ProvidedBufferRing?
    let udpBuffers: ProvidedBufferRing?
    let tunPending: CompletionQueue
    let udpPending: CompletionQueue
    /// Who holds each slot the engine took from the pool (0 = not the engine's).
    let owner: UnsafeMutablePointer<UInt8>
    let receiveTemplate: UnsafeMutablePointer<msghdr>
    let messages: UnsafeMutablePointer<msghdr>
    let iovecs: UnsafeMutablePointer<iovec>
    let cqes: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    var tunArmed = false
    var udpArmed = false
    var udp6Armed = false
    var readsInFlight = 0
    var sendsInFlight = 0
    var writesInFlight = 0
    var completedOK = 0
    /// Receives refused because the datagram did not fit a slot.
    public private(set) var truncatedReceives: UInt64 = 0
    public private(set) var gsoSendFailures: UInt64 = 0

    private static let cqeBatch = 256
    private static let singleReadsInFlight = 32

    public init(_ config: PacketIOConfiguration, pool: PacketPool, capabilities: RingCapabilities? = nil) throws(IOError) {
        let caps: RingCapabilities
        if let capabilities { caps = capabilities } else { caps = try Ring.probeCapabilities() }
        guard caps.basicOpcodes else { throw IOError("io_uring lacks SENDMSG/RECVMSG/READ/WRITE", errno: ENOSYS) }
        guard caps.bufferRings else { throw IOError("io_uring lacks provided buffer rings (Linux 5.19+)", errno: ENOSYS) }
        let entries = UInt32(max(64, min(4096, config.batchSize * 2)).nextPowerOfTwo)
        let ringObject = try Ring(entries: entries, completionEntries: max(4096, entries * 4))
        let ring = ringObject.ring
        var fds: [Int32] = []
        var tunIndex: Int32 = -1
        var udpIndex: Int32 = -1
        if config.tunFD >= 0 { tunIndex = Int32(fds.count); fds.append(config.tunFD) }
        if config.udpFD >= 0 { udpIndex = Int32(fds.count); fds.append(config.udpFD) }
        var udp6Index: Int32 = -1
        if config.udp6FD >= 0 { udp6Index = Int32(fds.count); fds.append(config.udp6FD) }
        if !fds.isEmpty {
            let rc = io_uring_register_files(ring, fds, UInt32(fds.count))
            guard rc == 0 else { throw IOError("io_uring_register_files", errno: -rc) }
        }
        // Half the pool may sit in each buffer ring; the rest is for batches in flight.
        let ringEntries = UInt32(max(1, min(1024, pool.capacity / 4)).previousPowerOfTwo)
        let multishot = caps.readMultishot && !config.disableMultishotRead && config.tunFD >= 0
        let tunBuffers = multishot
            ? try ProvidedBufferRing(ring: ring, group: UringPacketIO.tunGroup, entries: ringEntries,
                                     bufferOffset: pool.headroom, bufferLength: pool.slotSize - pool.headroom)
            : nil
        // Both underlay sockets' multishot receives draw from this one ring.
        let udpBuffers = config.udpFD >= 0 || config.udp6FD >= 0
            ? try ProvidedBufferRing(ring: ring, group: UringPacketIO.udpGroup, entries: ringEntries,
                                     bufferOffset: 0, bufferLength: pool.slotSize)
            : nil
        // Stored properties last: a throwing init of a noncopyable type may not leave them half set.
        self.tunBuffers = tunBuffers
        self.udpBuffers = udpBuffers
        self.ringObject = ringObject
        self.ring = ring
        self.pool = pool
        self.config = config
        self.multishotRead = multishot
        self.tunIndex = tunIndex
        self.udpIndex = udpIndex
        self.udp6Index = udp6Index
        tunPending = CompletionQueue(capacity: pool.capacity)
        udpPending = CompletionQueue(capacity: pool.capacity)
        owner = .allocate(capacity: pool.capacity)
        owner.initialize(repeating: 0, count: pool.capacity)
        receiveTemplate = .allocate(capacity: 1)
        receiveTemplate.initialize(to: msghdr())
        receiveTemplate.pointee.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
        // With UDP_GRO each receive also carries the segment size in a control message.
        if config.udpGRO { receiveTemplate.pointee.msg_controllen = 32 }
        messages = .allocate(capacity: config.batchSize)
        messages.initialize(repeating: msghdr(), count: config.batchSize)
        iovecs = .allocate(capacity: config.batchSize)
        iovecs.initialize(repeating: iovec(), count: config.batchSize)
        cqes = .allocate(capacity: UringPacketIO.cqeBatch)
    }

    deinit {
        // Cancel everything in flight, let the cancellations land, then take back every slot the
        // kernel or a queue still holds.
        if let sqe = io_uring_get_sqe(ring) {
            io_uring_prep_cancel64(sqe, 0, Int32(IORING_ASYNC_CANCEL_ANY))
            io_uring_sqe_set_data64(sqe, Op.cancel.rawValue << 32)
        }
        var ts = __kernel_timespec(tv_sec: 0, tv_nsec: 50_000_000)
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
        tunBuffers?.unregister(from: ring)
        udpBuffers?.unregister(from: ring)
        tunPending.releaseAll(to: pool)
        udpPending.releaseAll(to: pool)
        for i in 0..<pool.capacity where owner[i] != 0 { pool.releaseIndex(UInt32(i)) }
        owner.deallocate()
        receiveTemplate.deallocate()
        messages.deallocate()
        iovecs.deallocate()
        cqes.deallocate()
        // ringObject's deinit exits the ring after this.
    }

    @inline(__always)
    private static func data(_ op: Op, _ index: Int) -> UInt64 { op.rawValue << 32 | UInt64(UInt32(truncatingIfNeeded: index)) }

    /// A submission entry, flushing the queue to make room when it is full.
    @inline(__always)
    private func sqe() -> UnsafeMutablePointer<io_uring_sqe> {
        if let s = io_uring_get_sqe(ring) { return s }
        _ = io_uring_submit(ring)
        // After a submit the queue has room (SUBMIT_ALL); a nil here would be a liburing bug.
        return io_uring_get_sqe(ring)!
    }

    /// Keeps TUN reads posted: the buffer ring stocked and the multishot read armed, or enough single
    /// reads in flight.
    @inline(__always)
    private mutating func armTun() {
        guard config.tunFD >= 0 else { return }
        if let br = tunBuffers {
            _ = br.replenish(from: pool, owner: owner, tag: UringPacketIO.ownerTunRing)
            if !tunArmed && br.lent > 0 {
                let s = sqe()
                twill_prep_read_multishot(s, tunIndex, UringPacketIO.tunGroup)
                twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE)
                io_uring_sqe_set_data64(s, UringPacketIO.data(.tunMultishot, 0))
                tunArmed = true
            }
        } else {
            while readsInFlight < UringPacketIO.singleReadsInFlight, let index = pool.acquireIndex() {
                let s = sqe()
                io_uring_prep_read(s, tunIndex, pool.address(of: index) + pool.headroom,
                                   UInt32(pool.slotSize - pool.headroom), UInt64.max)
                twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE)
                io_uring_sqe_set_data64(s, UringPacketIO.data(.tunRead, Int(index)))
                owner[Int(index)] = UringPacketIO.ownerTunRead
                readsInFlight += 1
            }
        }
    }

    @inline(__always)
    private mutating func armUDP() {
        guard let br = udpBuffers else { return }
        _ = br.replenish(from: pool, owner: owner, tag: UringPacketIO.ownerUDPRing)
        if !udpArmed && udpIndex >= 0 && br.lent > 0 {
            armReceive(udpIndex, .udpMultishot)
            udpArmed = true
        }
        if !udp6Armed && udp6Index >= 0 && br.lent > 0 {
            armReceive(udp6Index, .udp6Multishot)
            udp6Armed = true
        }
    }

    @inline(__always)
    private func armReceive(_ index: Int32, _ op: Op) {
        let s = sqe()
        io_uring_prep_recvmsg_multishot(s, index, receiveTemplate, 0)
        twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE | TWILL_IOSQE_BUFFER_SELECT)
        twill_sqe_set_buf_group(s, UringPacketIO.udpGroup)
        io_uring_sqe_set_data64(s, UringPacketIO.data(op, 0))
    }

    /// Handles every completion that is ready; returns how many.
    @discardableResult
    private mutating func reap() -> Int {
        var total = 0
        while true {
            let n = Int(io_uring_peek_batch_cqe(ring, cqes, UInt32(UringPacketIO.cqeBatch)))
            if n == 0 { return total }
            for i in 0..<n { handle(cqes[i].unsafelyUnwrapped) }
            io_uring_cq_advance(ring, UInt32(n))
            total += n
        }
    }

    @inline(__always)
    private mutating func handle(_ cqe: UnsafeMutablePointer<io_uring_cqe>) {
        let ud = cqe.pointee.user_data
        let res = cqe.pointee.res
        let flags = cqe.pointee.flags
        let hasBuffer = flags & UInt32(IORING_CQE_F_BUFFER) != 0
        let more = flags & UInt32(IORING_CQE_F_MORE) != 0
        switch Op(rawValue: ud >> 32) {
        case .tunMultishot:
            if hasBuffer {
                let bid = UInt32(flags >> UInt32(IORING_CQE_BUFFER_SHIFT))
                owner[Int(bid)] = 0
                tunBuffers.unsafelyUnwrapped.lent -= 1
                if res > 0 {
                    tunPending.push(slot: bid, offset: pool.headroom, length: Int(res))
                } else {
                    pool.releaseIndex(bid)
                }
            }
            if !more { tunArmed = false }
        case .tunRead:
            let index = UInt32(truncatingIfNeeded: ud)
            owner[Int(index)] = 0
            readsInFlight -= 1
            if res > 0 {
                tunPending.push(slot: index, offset: pool.headroom, length: Int(res))
            } else {
                pool.releaseIndex(index)
            }
        case .udpMultishot, .udp6Multishot:
            if hasBuffer {
                let bid = UInt32(flags >> UInt32(IORING_CQE_BUFFER_SHIFT))
                owner[Int(bid)] = 0
                udpBuffers.unsafelyUnwrapped.lent -= 1
                receive(bid, Int(res))
            }
            if !more {
                if Op(rawValue: ud >> 32) == .udpMultishot { udpArmed = false } else { udp6Armed = false }
            }
        case .udpSend:
            sendsInFlight -= 1
            if res >= 0 { completedOK += 1 } else if res == -EIO { gsoSendFailures &+= 1 }
        case .tunWrite:
            writesInFlight -= 1
            if res >= 0 { completedOK += 1 }
        case .cancel, .none:
            break
        }
    }

    @inline(__always)
    private mutating func receive(_ slot: UInt32, _ res: Int) {
        let base = pool.address(of: slot)
        guard res > 0, let out = io_uring_recvmsg_validate(base, Int32(res), receiveTemplate) else {
            pool.releaseIndex(slot)
            return
        }
        if out.pointee.flags & UInt32(MSG_TRUNC) != 0 {
            truncatedReceives &+= 1
            pool.releaseIndex(slot)
            return
        }
        let payload = io_uring_recvmsg_payload(out, receiveTemplate)!
        let length = Int(io_uring_recvmsg_payload_length(out, Int32(res), receiveTemplate))
        let name = io_uring_recvmsg_name(out)!
        var segment = 0
        if config.udpGRO {
            let size = Int(twill_recvmsg_out_udp_gro_size(out, receiveTemplate))
            if size > 0 && size < length { segment = size }
        }
        udpPending.push(slot: slot, offset: payload - base, length: length, address: UnsafeRawPointer(name),
                        addressLength: Int(min(out.pointee.namelen, UInt32(MemoryLayout<sockaddr_in6>.size))),
                        segmentSize: segment)
    }

    /// Submits what is queued and runs completions without blocking.
    @inline(__always)
    private mutating func poll() {
        _ = io_uring_submit_and_get_events(ring)
        reap()
    }

    /// Submits and waits for at least one completion or the timeout.
    @inline(__always)
    private mutating func wait(_ timeoutMilliseconds: Int32) {
        var ts = __kernel_timespec(tv_sec: Int64(timeoutMilliseconds / 1000),
                                   tv_nsec: Int64(timeoutMilliseconds % 1000) * 1_000_000)
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
        reap()
    }

    public mutating func readTun(into batch: inout PacketBatch, timeoutMilliseconds: Int32) throws(IOError) -> Int {
        precondition(batch.pool === pool, "a batch must come from the engine's pool")
        armTun()
        var n = tunPending.drain(into: &batch, withAddress: false)
        if n > 0 { armTun(); poll(); return n + tunPending.drain(into: &batch, withAddress: false) }
        poll()
        armTun()
        n = tunPending.drain(into: &batch, withAddress: false)
        if n == 0 {
            wait(timeoutMilliseconds)
            n = tunPending.drain(into: &batch, withAddress: false)
        }
        armTun()
        return n
    }

    public mutating func receiveUDP(into batch: inout PacketBatch, timeoutMilliseconds: Int32) throws(IOError) -> Int {
        precondition(batch.pool === pool, "a batch must come from the engine's pool")
        armUDP()
        var n = udpPending.drain(into: &batch, withAddress: true)
        if n > 0 { armUDP(); poll(); return n + udpPending.drain(into: &batch, withAddress: true) }
        poll()
        armUDP()
        n = udpPending.drain(into: &batch, withAddress: true)
        if n == 0 {
            wait(timeoutMilliseconds)
            n = udpPending.drain(into: &batch, withAddress: true)
        }
        armUDP()
        return n
    }

    public mutating func sendUDP(_ batch: borrowing PacketBatch) throws(IOError) -> Int {
        var k = 0
        for i in 0..<batch.count where batch.length(i) > 0 {
            if k == config.batchSize { break }
            let p = batch.packet(i)
            iovecs[k] = iovec(iov_base: p.baseAddress, iov_len: p.count)
            messages[k] = msghdr()
            messages[k].msg_name = UnsafeMutableRawPointer(batch.addressPointer(i))
            messages[k].msg_namelen = batch.address(i).length
            messages[k].msg_iov = iovecs + k
            messages[k].msg_iovlen = 1
            let s = sqe()
            io_uring_prep_sendmsg(s, sendIndex(family: batch.address(i).family), messages + k, 0)
            twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE)
            io_uring_sqe_set_data64(s, UringPacketIO.data(.udpSend, k))
            sendsInFlight += 1
            k += 1
        }
        return finishSubmissions { $0.sendsInFlight }
    }

    public mutating func writeTun(_ batch: borrowing PacketBatch) throws(IOError) -> Int {
        for i in 0..<batch.count where batch.length(i) > 0 {
            let p = batch.packet(i)
            let s = sqe()
            io_uring_prep_write(s, tunIndex, p.baseAddress, UInt32(p.count), UInt64.max)
            twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE)
            io_uring_sqe_set_data64(s, UringPacketIO.data(.tunWrite, i))
            writesInFlight += 1
        }
        return finishSubmissions { $0.writesInFlight }
    }

    public mutating func sendUDP(_ v: borrowing IOVectorBatch) throws(IOError) -> Int {
        for i in 0..<v.count {
            let s = sqe()
            // msg_hdr is the first field: the kernel reads the batch's own msghdr, which outlives the wait.
            io_uring_prep_sendmsg(s, sendIndex(family: v.family(i)),
                                  UnsafeMutableRawPointer(v.message(i)).assumingMemoryBound(to: msghdr.self), 0)
            twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE)
            io_uring_sqe_set_data64(s, UringPacketIO.data(.udpSend, i))
            sendsInFlight += 1
        }
        return finishSubmissions { $0.sendsInFlight }
    }

    public mutating func writeTun(_ v: borrowing IOVectorBatch) throws(IOError) -> Int {
        for i in 0..<v.count {
            let (vectors, n) = v.vectors(i)
            let s = sqe()
            io_uring_prep_writev(s, tunIndex, vectors, UInt32(n), UInt64.max)
            twill_sqe_set_flags(s, TWILL_IOSQE_FIXED_FILE)
            io_uring_sqe_set_data64(s, UringPacketIO.data(.tunWrite, i))
            writesInFlight += 1
        }
        return finishSubmissions { $0.writesInFlight }
    }

    /// The registered socket for a destination of `family`: the IPv6 one for AF_INET6 when present.
    @inline(__always)
    private func sendIndex(family: Int32) -> Int32 {
        family == AF_INET6 && udp6Index >= 0 ? udp6Index : udpIndex
    }

    /// Submits and waits (bounded) until the sends or writes just queued have completed, so their
    /// slots can be reused. Receive completions arriving meanwhile are queued for the next read.
    @inline(__always)
    private mutating func finishSubmissions(_ inFlight: (borrowing Self) -> Int) -> Int {
        completedOK = 0
        var rounds = 0
        while inFlight(self) > 0 && rounds < 2000 {
            wait(5)
            rounds += 1
        }
        return completedOK
    }
}

extension Int {
    var nextPowerOfTwo: Int {
        var v = 1
        while v < self { v <<= 1 }
        return v
    }

    var previousPowerOfTwo: Int {
        var v = 1
        while v << 1 <= self { v <<= 1 }
        return v
    }
}
