import Synchronization
import TwillIO

/// The forwarding engine of one host: per TUN queue an egress thread (TUN -> UDP) and an ingress
/// thread (UDP -> TUN), each with its own packet pool and its own I/O engine instance.
///
/// With several queues the kernel spreads flows over the TUN queues by hash and over the receive
/// sockets (SO_REUSEPORT on the overlay port) by the outer addresses and ports; each queue sends from
/// its own socket and so its own source port, which keeps a flow on one queue at both ends.
public final class Forwarder: Sendable {
    public let config: ForwarderConfiguration
    public let counters: DatapathCounters
    public let peers: PeerDirectory
    private let tun: TunDevice
    private let receiveSockets: [UDPSocket]
    private let sendSockets: [UDPSocket]
    private let receiveSockets6: [UDPSocket]
    private let sendSockets6: [UDPSocket]
    private let signal = StopSignal()
    private let threads = Mutex<[DatapathThread]>([])
    private let failures = Mutex<[String]>([])
    private let running = Atomic<Int>(0)

    /// - Parameters:
    ///   - sockets: one receive socket per TUN queue (bound to the overlay port).
    ///   - sendSockets: one per queue to send from; empty sends from the receive sockets.
    ///   - sockets6, sendSockets6: the same for an IPv6 underlay (empty without one).
    public init(config: ForwarderConfiguration, tun: TunDevice, sockets: [UDPSocket], sendSockets: [UDPSocket] = [],
                sockets6: [UDPSocket] = [], sendSockets6: [UDPSocket] = [],
                peers: PeerDirectory, counters: DatapathCounters = DatapathCounters()) {
        precondition(sockets.count == tun.queues.count, "one receive socket per TUN queue")
        precondition(sendSockets.isEmpty || sendSockets.count == tun.queues.count, "one send socket per TUN queue")
        precondition(sockets6.isEmpty || sockets6.count == tun.queues.count, "one IPv6 receive socket per TUN queue")
        precondition(sendSockets6.isEmpty || sendSockets6.count == sockets6.count, "one IPv6 send socket per TUN queue")
        self.config = config
        self.tun = tun
        self.receiveSockets = sockets
        self.sendSockets = sendSockets
        self.receiveSockets6 = sockets6
        self.sendSockets6 = sendSockets6
        self.peers = peers
        self.counters = counters
    }

    /// One queue: the TUN's only queue and one socket for both directions.
    public convenience init(config: ForwarderConfiguration, tun: TunDevice, socket: UDPSocket, peers: PeerDirectory,
                            counters: DatapathCounters = DatapathCounters()) {
        self.init(config: config, tun: tun, sockets: [socket], peers: peers, counters: counters)
    }

    public var queueCount: Int { tun.queues.count }

    /// Starts both loops of every queue on their own threads.
    public func start() {
        let config = config
        var loopConfig = config
        loopConfig.batchSize = config.effectiveBatchSize
        let context = LoopContext(config: loopConfig, directory: peers, counters: counters, stop: signal)
        var started: [DatapathThread] = []
        for q in 0..<tun.queues.count {
            func io(_ udp: Int32, _ udp6: Int32) -> PacketIOConfiguration {
                PacketIOConfiguration(tunFD: tun.queues[q], udpFD: udp, udp6FD: udp6, batchSize: loopConfig.batchSize,
                                      disableMultishotRead: config.disableMultishotRead,
                                      udpGRO: config.offloads.contains(.udpGRO))
            }
            let receive6 = receiveSockets6.isEmpty ? -1 : receiveSockets6[q].fd
            let send = io(sendSockets.isEmpty ? receiveSockets[q].fd : sendSockets[q].fd,
                          sendSockets6.isEmpty ? receive6 : sendSockets6[q].fd)
            let receive = io(receiveSockets[q].fd, receive6)
            let suffix = tun.queues.count > 1 ? "-\(q)" : ""
            // A TUN with virtio headers needs the offload loops even when only the checksum offload is on.
            if tun.vnetHeader {
                started.append(spawn("twill-egress" + suffix, send, OffloadEgressLoop(context: context)))
                started.append(spawn("twill-ingress" + suffix, receive, OffloadIngressLoop(context: context)))
            } else {
                started.append(spawn("twill-egress" + suffix, send, EgressLoop(context: context)))
                started.append(spawn("twill-ingress" + suffix, receive, IngressLoop(context: context)))
            }
        }
        threads.withLock { $0 += started }
    }

    private func spawn<L: PacketIOUser & Sendable>(_ name: String, _ ioConfig: PacketIOConfiguration, _ loop: L) -> DatapathThread {
        let config = config
        running.add(1, ordering: .relaxed)
        return DatapathThread(name: name) { [self] in
            defer { running.subtract(1, ordering: .relaxed) }
            do {
                // The pool and the engine are made on this thread: it owns them (SINGLE_ISSUER).
                let pool = try PacketPool(slotSize: config.slotSize, count: config.poolSlots,
                                          headroom: EncapsulationHeadroom.bytes)
                var loop = loop
                try config.engine.open(ioConfig, pool: pool, user: &loop)
            } catch {
                failures.withLock { $0.append("\(name): \(error)") }
            }
        }
    }

    /// Every loop is running (none failed to start or ended).
    public var isRunning: Bool { running.load(ordering: .relaxed) == 2 * tun.queues.count && !signal.isStopped }

    /// Errors that stopped a loop, if any.
    public var loopFailures: [String] { failures.withLock { $0 } }

    /// Stops both loops and waits for their threads to end.
    public func stop() {
        signal.stop()
        let ts = threads.withLock { t -> [DatapathThread] in
            defer { t = [] }
            return t
        }
        for t in ts { t.join() }
    }
}

/// Headroom reserved in every slot, enough for any encapsulation's headers.
public enum EncapsulationHeadroom {
    public static let bytes = 64
}
