import CLiburing
import Glibc

/// Scatter-gather messages for `sendUDP` and `writeTun`: each message is a run of iovecs (headers
/// from an arena, payloads in place in pool slots), with a destination and, for UDP, an optional
/// GSO segment size (a UDP_SEGMENT control message: the kernel cuts the message into datagrams of
/// that size). The msghdrs are laid out for sendmmsg and io_uring SENDMSG directly. All storage is
/// allocated once; the memory the iovecs point to must outlive the send.
public struct IOVectorBatch: ~Copyable {
    public let messageCapacity: Int
    public let vectorCapacity: Int
    public private(set) var count = 0
    private(set) var vectorCount = 0
    let messages: UnsafeMutablePointer<twill_mmsghdr>
    let iovecs: UnsafeMutablePointer<iovec>
    let controls: UnsafeMutableRawPointer
    let addresses: UnsafeMutablePointer<SocketAddress>
    let firstVector: UnsafeMutablePointer<Int>
    let byteCounts: UnsafeMutablePointer<Int>
    let segmentSizes: UnsafeMutablePointer<Int>

    public init(messages: Int, vectors: Int) {
        precondition(messages > 0 && vectors >= messages, "IOVectorBatch needs room")
        messageCapacity = messages
        vectorCapacity = vectors
        self.messages = .allocate(capacity: messages)
        self.messages.initialize(repeating: twill_mmsghdr(), count: messages)
        iovecs = .allocate(capacity: vectors)
        iovecs.initialize(repeating: iovec(), count: vectors)
        controls = .allocate(byteCount: messages * Int(TWILL_UDP_SEGMENT_CMSG_SPACE), alignment: 8)
        addresses = .allocate(capacity: messages)
        addresses.initialize(repeating: SocketAddress(), count: messages)
        firstVector = .allocate(capacity: messages + 1)
        firstVector[0] = 0
        byteCounts = .allocate(capacity: messages)
        segmentSizes = .allocate(capacity: messages)
    }

    deinit {
        messages.deallocate()
        iovecs.deallocate()
        controls.deallocate()
        addresses.deinitialize(count: messageCapacity)
        addresses.deallocate()
        firstVector.deallocate()
        byteCounts.deallocate()
        segmentSizes.deallocate()
    }

    /// Room for a message of `vectors` more iovecs.
    @inline(__always)
    public func hasRoom(vectors: Int) -> Bool {
        count < messageCapacity && vectorCount + vectors <= vectorCapacity
    }

    /// Vectors still free.
    @inline(__always) public var freeVectors: Int { vectorCapacity - vectorCount }

    /// Opens a message; add its pieces with `append`, then close it with `finish`. False when full.
    @inline(__always)
    public mutating func begin(to address: SocketAddress = SocketAddress(), segmentSize: Int = 0) -> Bool {
        guard count < messageCapacity, vectorCount < vectorCapacity else { return false }
        firstVector[count] = vectorCount
        addresses[count] = address
        byteCounts[count] = 0
        segmentSizes[count] = segmentSize
        return true
    }

    /// Adds a piece to the open message. False when out of vectors (the caller finishes early).
    @inline(__always)
    public mutating func append(_ base: UnsafeRawPointer, _ length: Int) -> Bool {
        guard vectorCount < vectorCapacity else { return false }
        iovecs[vectorCount] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: length)
        vectorCount += 1
        byteCounts[count] += length
        return true
    }

    /// Closes the open message; one without pieces is discarded.
    @inline(__always)
    public mutating func finish() {
        let first = firstVector[count]
        guard vectorCount > first else { return }
        var m = msghdr()
        m.msg_iov = iovecs + first
        m.msg_iovlen = vectorCount - first
        if addresses[count].length > 0 {
            m.msg_name = UnsafeMutableRawPointer(addresses + count)
            m.msg_namelen = addresses[count].length
        }
        let size = segmentSizes[count]
        // One segment needs no GSO; a message that is exactly one segment long is sent plainly.
        if size > 0 && byteCounts[count] > size {
            twill_msg_set_udp_segment(&m, controls + count * Int(TWILL_UDP_SEGMENT_CMSG_SPACE), UInt16(size))
        } else {
            segmentSizes[count] = 0
        }
        messages[count] = twill_mmsghdr(msg_hdr: m, msg_len: 0)
        count += 1
        firstVector[count] = vectorCount
    }

    public mutating func removeAll() {
        count = 0
        vectorCount = 0
    }

    @inline(__always) public var isEmpty: Bool { count == 0 }
    /// Bytes in message `i` (the UDP payload, or what is written to the TUN).
    @inline(__always) public func byteCount(_ i: Int) -> Int { byteCounts[i] }
    /// The GSO segment size of message `i`, 0 when it goes as one datagram.
    @inline(__always) public func segmentSize(_ i: Int) -> Int { segmentSizes[i] }
    /// The datagrams message `i` becomes on the wire.
    @inline(__always)
    public func datagrams(_ i: Int) -> Int {
        let s = segmentSizes[i]
        return s == 0 ? 1 : (byteCounts[i] + s - 1) / s
    }
    /// The address family of message `i`'s destination (AF_INET6 picks the IPv6 socket).
    @inline(__always) public func family(_ i: Int) -> Int32 { addresses[i].family }
    @inline(__always) func message(_ i: Int) -> UnsafeMutablePointer<twill_mmsghdr> { messages + i }
    @inline(__always) func vectors(_ i: Int) -> (UnsafeMutablePointer<iovec>, Int) {
        (iovecs + firstVector[i], firstVector[i + 1] - firstVector[i])
    }
}
