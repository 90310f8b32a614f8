import Synchronization
import TwillIO

/// The forwarding engine of one host: an egress thread (TUN -> UDP) and an ingress thread
/// (UDP -> TUN), each with its own packet pool and its own I/O engine instance.
public final class Forwarder: Sendable {
    public let config: ForwarderConfiguration
    public let counters: DatapathCounters
    public let peers: PeerDirectory
    private let tun: TunDevice
    private let socket: UDPSocket
    private let signal = StopSignal()
    private let threads = Mutex<[DatapathThread]>([])
    private let failures = Mutex<[String]>([])
    private let running = Atomic<Int>(0)

    public init(config: ForwarderConfiguration, tun: TunDevice, socket: UDPSocket, peers: PeerDirectory,
                counters: DatapathCounters = DatapathCounters()) {
        self.config = config
        self.tun = tun
        self.socket = socket
        self.peers = peers
        self.counters = counters
    }

    /// Starts both loops on their own threads.
    public func start() {
        let config = config
        var loopConfig = config
        loopConfig.batchSize = config.effectiveBatchSize
        let ioConfig = PacketIOConfiguration(tunFD: tun.queues[0], udpFD: socket.fd, batchSize: loopConfig.batchSize,
                                             disableMultishotRead: config.disableMultishotRead,
                                             udpGRO: config.offloads.contains(.udpGRO))
        let context = LoopContext(config: loopConfig, directory: peers, counters: counters, stop: signal)
        // A TUN with virtio headers needs the offload loops even when only the checksum offload is on.
        let started = tun.vnetHeader
            ? [spawn("twill-egress", ioConfig, OffloadEgressLoop(context)),
               spawn("twill-ingress", ioConfig, OffloadIngressLoop(context))]
            : [spawn("twill-egress", ioConfig, EgressLoop(context)),
               spawn("twill-ingress", ioConfig, IngressLoop(context))]
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

    /// Both loops are running (neither failed to start nor ended).
    public var isRunning: Bool { running.load(ordering: .relaxed) == 2 && !signal.isStopped }

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
