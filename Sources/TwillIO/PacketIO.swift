import Glibc

/// The two I/O engines behind the batch API.
public enum IOEngineKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// io_uring: multishot receives into provided buffers, batched submissions.
    case uring
    /// readv/writev on the TUN, recvmmsg/sendmmsg on UDP, epoll for readiness.
    case syscalls
    public var description: String { rawValue }
}

/// What the caller asks for; `auto` picks io_uring unless the kernel or a seccomp profile refuses it.
public enum IOEnginePreference: String, Sendable, CaseIterable {
    case auto, uring, syscalls
}

/// Batch-shaped packet I/O between one TUN queue and one UDP socket (two with an IPv6 underlay),
/// owned by one thread.
///
/// Reads put each packet in a fresh pool slot at the pool's headroom (TUN) or anywhere in the slot
/// (UDP: see `PacketBatch.offset`); writes and sends skip entries of length 0 (dropped ones). Every
/// wait is bounded by the timeout given.
public protocol PacketIO: ~Copyable {
    var engine: IOEngineKind { get }
    /// The pool every batch given to this engine must come from.
    var pool: PacketPool { get }
    /// Datagrams refused because they did not fit a slot (counted, never forwarded cut short).
    var truncatedReceives: UInt64 { get }
    /// Appends up to the batch's free room in packets read from the TUN; waits at most `timeoutMilliseconds`
    /// for the first. Returns how many were appended.
    mutating func readTun(into batch: inout PacketBatch, timeoutMilliseconds: Int32) throws(IOError) -> Int
    /// Writes each packet of non-zero length to the TUN. Returns how many were written.
    mutating func writeTun(_ batch: borrowing PacketBatch) throws(IOError) -> Int
    /// Appends received datagrams with their source addresses. Returns how many were appended.
    mutating func receiveUDP(into batch: inout PacketBatch, timeoutMilliseconds: Int32) throws(IOError) -> Int
    /// Sends each packet of non-zero length to its batch address. Returns how many were sent.
    mutating func sendUDP(_ batch: borrowing PacketBatch) throws(IOError) -> Int
    /// Sends each scatter-gather message (with UDP GSO where it has a segment size). Returns how many
    /// messages were sent.
    mutating func sendUDP(_ messages: borrowing IOVectorBatch) throws(IOError) -> Int
    /// Writes each scatter-gather message to the TUN as one packet. Returns how many were written.
    mutating func writeTun(_ messages: borrowing IOVectorBatch) throws(IOError) -> Int
    /// GSO sends the kernel refused with EIO (the device cannot segment): the caller turns GSO off.
    var gsoSendFailures: UInt64 { get }
}

/// The file descriptors and pool one datapath thread works with.
public struct PacketIOConfiguration: Sendable {
    /// The TUN queue, or -1 when this thread does no TUN reads or writes.
    public var tunFD: Int32
    /// The UDP socket, or -1.
    public var udpFD: Int32
    /// The IPv6 underlay's UDP socket, or -1: datagrams to IPv6 addresses go out through it and
    /// receives come from both.
    public var udp6FD: Int32
    /// Largest batch handled at once.
    public var batchSize: Int
    /// io_uring only: keep single-shot reads in flight even where READ_MULTISHOT exists.
    public var disableMultishotRead: Bool
    /// The UDP socket has UDP_GRO on: receives carry the coalesced segment size.
    public var udpGRO: Bool

    public init(tunFD: Int32 = -1, udpFD: Int32 = -1, udp6FD: Int32 = -1, batchSize: Int = 64,
                disableMultishotRead: Bool = false, udpGRO: Bool = false) {
        self.tunFD = tunFD
        self.udpFD = udpFD
        self.udp6FD = udp6FD
        self.batchSize = batchSize
        self.disableMultishotRead = disableMultishotRead
        self.udpGRO = udpGRO
    }
}

extension PacketIOConfiguration {
    /// The socket that sends to an address of `family`: the IPv6 one for AF_INET6 when there is one.
    @inline(__always)
    func sendFD(family: Int32) -> Int32 {
        family == AF_INET6 && udp6FD >= 0 ? udp6FD : udpFD
    }
}
