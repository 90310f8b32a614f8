import Foundation
import Logging
import ServiceLifecycle
import TwillControl
import TwillEtcd
import TwillIO
import TwillOverlay
import TwillWire

/// The daemon: lease, host set-up, datapath, then renewal and peer watching until a shutdown
/// signal; on shutdown the datapath stops and the device and its routes go, the lease stays.
final class Daemon: Service {
    let options: DaemonOptions
    let logger: Logger
    let status = DaemonStatus()
    let metrics = DaemonMetrics()
    let notifier = SystemdNotifier()

    init(options: DaemonOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    func run() async throws {
        // Serving first: /healthz answers (and /readyz says why not ready) while the store is awaited.
        let server = try await startHealthServer()
        do {
            let store = try makeStore()
            do {
                try await run(with: store)
            } catch {
                try? await (store as? EtcdLeaseStore)?.shutdown()
                throw error
            }
            try? await (store as? EtcdLeaseStore)?.shutdown()
        } catch {
            await server?.close()
            throw error
        }
        await server?.close()
    }

    private func startHealthServer() async throws -> HealthServer? {
        guard let (host, port) = options.healthz else { return nil }
        let server = try await HealthServer(host: host, port: port) { [status, metrics] path in
            HealthEndpoints.reply(to: path, status: status, metrics: metrics)
        }
        logger.info("serving /healthz, /readyz and /metrics on \(server.address)")
        return server
    }

    private func run(with store: any LeaseStore) async throws {
        let o = options
        let config = try await startupRetry("reading the network config", .config) { try await store.networkConfig() }
        let format = config.backend.format
        let mac = try VTEPMACFile.loadOrCreate(path: o.vtepMACFile)
        let publicIPv6 = ipv6Underlay(config)
        // In a dual-stack overlay the one VTEP MAC also answers for IPv6 (flannel's BackendV6Data).
        let attributes: LeaseAttributes = format == .vxlan
            ? .vxlan(publicIP: o.publicIP, vni: config.backend.vni, vtepMAC: mac, publicIPv6: publicIPv6,
                     vtepMACv6: config.ipv6 == nil ? nil : mac)
            : .udp(publicIP: o.publicIP, publicIPv6: publicIPv6)
        let previousFile = SubnetFile.read(o.subnetFile)
        let lease = try await startupRetry("acquiring a lease", .acquire) {
            try await store.acquireLease(attributes: attributes, subnetFileSubnet: previousFile?.subnet,
                                         subnetFileSubnetV6: previousFile?.ipv6Subnet, ttl: o.leaseTTL)
        }
        status.leaseHeld(lease)
        let leaseText = lease.subnetV6.map { "\(lease.subnet) + \($0)" } ?? "\(lease.subnet)"
        let underlayText = publicIPv6.map { "\(o.publicIP) and \($0)" } ?? "\(o.publicIP)"
        logger.info("lease \(leaseText) for \(underlayText) (\(format), port \(config.backend.port)\(format == .vxlan ? ", VNI \(config.backend.vni), VTEP MAC \(mac)" : ""))")
        let ipv6: (lease: IPv6Subnet, network: IPv6Subnet)?
        if let v6 = config.ipv6 {
            guard let leaseV6 = lease.subnetV6 else { throw DaemonError.datapath("the lease \(lease.subnet) has no IPv6 subnet although EnableIPv6 is true") }
            ipv6 = (leaseV6, v6.network)
        } else {
            ipv6 = nil
        }

        // The overhead of the underlay in use: an IPv6 one costs 20 bytes more (flannel #1781).
        let mtu = config.mtu(underlayMTU: o.underlay.mtu, ipv6Underlay: publicIPv6 != nil)
        let device = try await retryWhileHeld("TUN device \(o.tunName)", errno: EBUSY) {
            try OverlayDevice(name: o.tunName, lease: lease.subnet, network: config.network, mtu: mtu,
                              queues: o.queues, vnetHeader: o.offloads.needsVnetHeader, ipv6: ipv6)
        }
        let v6Text = ipv6.map { " and \($0.lease.address)/128, route \($0.network)" } ?? ""
        logger.info("device \(device.name): \(lease.subnet.address)/32, MTU \(mtu) (underlay \(o.underlay.name) MTU \(o.underlay.mtu)\(publicIPv6 == nil ? "" : ", IPv6 underlay")), route \(config.network)\(v6Text), \(o.queues) queue\(o.queues == 1 ? "" : "s")")
        var sockets: [UDPSocket] = []
        var sendSockets: [UDPSocket] = []
        var sockets6: [UDPSocket] = []
        var sendSockets6: [UDPSocket] = []
        let choice: IOEngineChoice
        do {
            for _ in 0..<o.queues {
                sockets.append(try await bindOverlayPort(.v4(o.publicIP), config.backend.port, reusePort: o.queues > 1))
                if let publicIPv6 {
                    sockets6.append(try await bindOverlayPort(.v6(publicIPv6), config.backend.port, reusePort: o.queues > 1))
                }
                // Each queue sends from a port of its own, so the peer's receive sockets split flows too.
                if o.queues > 1 {
                    sendSockets.append(try Daemon.sendOnlySocket(.v4(o.publicIP)))
                    if let publicIPv6 { sendSockets6.append(try Daemon.sendOnlySocket(.v6(publicIPv6))) }
                }
            }
            choice = try IOEngineSelector.choose(o.engine)
        } catch {
            device.close()
            throw error
        }
        logger.info("I/O engine: \(choice.kind) (\(choice.reason))")
        let probe = OffloadProbe.enable(o.offloads, tun: device.tun,
                                        sockets: (sockets + sendSockets + sockets6 + sendSockets6).map(\.fd))
        for (name, reason) in probe.refused { logger.warning("offload \(name) off: \(reason)") }
        logger.info("offloads: \(probe.enabled) (asked for \(o.offloads))")
        let slotSize = ForwarderConfiguration.slotSize(underlayMTU: o.underlay.mtu, offloads: probe.enabled)

        var leasePeers = LeasePeers(format: format, port: config.backend.port, ownSubnet: lease.subnet,
                                    dualStack: config.ipv6 != nil, ipv6Underlay: publicIPv6 != nil)
        let directory = PeerDirectory()
        do {
            directory.publish(PeerTable(peers: leasePeers.peers(from: try await store.leases(), logger: logger)))
        } catch {
            // The watch delivers the peers once the store answers.
            metrics.storeError(.list)
            logger.warning("listing the leases failed: \(error); the watch will deliver them")
        }
        let forwarder = Forwarder(
            config: ForwarderConfiguration(
                format: format, vni: config.backend.vni, localMAC: mac, localSubnet: lease.subnet,
                icmpSource: config.network.address, ipv6: ipv6.map { .init(network: $0.network, localSubnet: $0.lease) },
                engine: choice, batchSize: o.batchSize,
                poolSlots: ForwarderConfiguration.poolSlots(slotSize: slotSize), slotSize: slotSize,
                offloads: probe.enabled),
            tun: device.tun, sockets: sockets, sendSockets: sendSockets, sockets6: sockets6, sendSockets6: sendSockets6,
            peers: directory)
        forwarder.start()
        try? await Task.sleep(for: .milliseconds(50))
        if !forwarder.loopFailures.isEmpty {
            forwarder.stop()
            device.close()
            throw DaemonError.datapath(forwarder.loopFailures.joined(separator: "; "))
        }
        status.datapathStarted(.init(forwarder: forwarder, directory: directory, subnet: lease.subnet, format: format,
                                     engine: choice.kind.rawValue,
                                     offloads: Offloads.names.map { ($0.name, probe.enabled.contains($0.offload)) }))
        let masquerade: IPMasquerade?
        do {
            // As flanneld: the rules are in place before the subnet file tells consumers to start.
            masquerade = try startMasquerade(network: config.network, subnet: lease.subnet, ipv6: ipv6)
        } catch {
            forwarder.stop()
            device.close()
            throw error
        }
        do {
            try SubnetFile(network: config.network, subnet: lease.subnet, mtu: mtu, ipMasq: o.ipMasq,
                           ipv6Network: ipv6?.network, ipv6Subnet: ipv6?.lease).write(to: o.subnetFile)
        } catch {
            masquerade?.remove()
            forwarder.stop()
            device.close()
            throw error
        }
        let peerCount = directory.snapshot().table.count
        logger.info("ready: subnet file \(o.subnetFile) written, \(peerCount) peers")
        notifier.ready(status: "lease \(lease.subnet), \(peerCount) peers, \(choice.kind) engine")

        let watchedPeers = leasePeers
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await renewLoop(store: store, lease: lease, attributes: attributes)
            }
            group.addTask { [self] in
                await watchLoop(store: store, peers: watchedPeers, directory: directory)
            }
            if let masquerade {
                group.addTask { await masquerade.resyncLoop(every: o.masqueradeResync) }
            }
            if let interval = notifier.watchdogInterval {
                group.addTask { [notifier] in
                    while !Task.isCancelled {
                        // No pings once a datapath thread has stopped: systemd then restarts twilld.
                        if forwarder.isRunning { notifier.watchdog() }
                        do { try await Task.sleep(for: interval) } catch { return }
                    }
                }
            }
            if let path = o.statsFile {
                group.addTask {
                    while !Task.isCancelled {
                        StatsFile.write(StatsFile.text(forwarder.counters, peers: directory.snapshot().table.count,
                                                       engine: choice.kind.rawValue), to: path)
                        try? await Task.sleep(for: .milliseconds(500))
                    }
                }
            }
            try? await gracefulShutdown()
            status.stopping()
            group.cancelAll()
        }
        // After the group: no watchdog ping can follow STOPPING=1.
        notifier.stopping(status: "stopping: removing \(device.name), keeping lease \(lease.subnet)")
        forwarder.stop()
        masquerade?.remove()
        if let path = o.statsFile {
            StatsFile.write(StatsFile.text(forwarder.counters, peers: directory.snapshot().table.count,
                                           engine: choice.kind.rawValue), to: path)
        }
        device.close()
        let c = forwarder.counters
        logger.info("stopped: sent \(c.value(.sentPackets)), received \(c.value(.receivedPackets)), dropped \(c.totalDrops); device \(device.name) removed, lease \(lease.subnet) kept")
    }

    /// Binds the overlay port (see `retryWhileHeld`).
    func bindOverlayPort(_ address: IPAddress, _ port: UInt16, reusePort: Bool) async throws -> UDPSocket {
        try await retryWhileHeld("\(SocketAddress(address, port: port))", errno: EADDRINUSE) {
            try UDPSocket(bind: address, port: port, reusePort: reusePort)
        }
    }

    /// A queue's socket to send from: an ephemeral port of `address` that drops whatever arrives.
    static func sendOnlySocket(_ address: IPAddress) throws -> UDPSocket {
        let socket = try UDPSocket(bind: address, port: 0)
        try socket.refuseReceives()
        return socket
    }

    /// The IPv6 underlay address of a dual-stack overlay: `--public-ipv6`, else the underlay
    /// interface's first global IPv6 address; nil (IPv6 pods' traffic then rides the IPv4 underlay)
    /// without either, or when the overlay has no IPv6.
    func ipv6Underlay(_ config: NetworkConfig) -> IPv6Address? {
        guard config.ipv6 != nil else {
            if let a = options.publicIPv6 { logger.warning("--public-ipv6 \(a) unused: the network config has no EnableIPv6") }
            return nil
        }
        if let a = options.publicIPv6 { return a }
        if let a = UnderlayInterface.globalIPv6Addresses(of: options.underlay.name).first {
            logger.info("IPv6 underlay: \(a) on \(options.underlay.name) (give --public-ipv6 to choose another)")
            return a
        }
        logger.info("no IPv6 address on \(options.underlay.name): IPv6 pods' traffic travels over the IPv4 underlay")
        return nil
    }

    /// A predecessor killed with SIGKILL holds its port and its TUN device for a moment after it is
    /// reaped (its io_uring requests are torn down asynchronously): EADDRINUSE and EBUSY from them are
    /// retried for 5 s, saying so once.
    func retryWhileHeld<T>(_ what: String, errno busy: Int32, _ body: () throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(5)
        var logged = false
        while true {
            do { return try body() } catch {
                guard let e = error as? IOError, e.errno == busy, ContinuousClock.now < deadline else { throw error }
                if !logged {
                    logger.notice("\(what) is still in use (a previous twilld going away?); retrying for 5 s")
                    logged = true
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The embedded store (one file on this machine) or etcd.
    func makeStore() throws -> any LeaseStore {
        guard let e = options.etcd else {
            logger.info("lease store: embedded, \(options.storePath) (network config \(options.netConfigPath))")
            return EmbeddedLeaseStore(path: options.storePath, networkConfigPath: options.netConfigPath, logger: logger)
        }
        let tls = (e.caFile ?? e.certFile ?? e.keyFile) == nil ? nil
            : EtcdTLS(caFile: e.caFile, certFile: e.certFile, keyFile: e.keyFile)
        logger.info("lease store: etcd \(e.endpoints.joined(separator: ",")), prefix \(e.prefix)\(tls == nil ? "" : ", TLS")")
        return try EtcdLeaseStore(endpoints: e.endpoints, prefix: e.prefix, tls: tls, username: e.username,
                                  password: e.password, logger: logger)
    }

    /// `--ip-masq`: the rules installed (nil without the flag).
    private func startMasquerade(network: IPv4Subnet, subnet: IPv4Subnet,
                                 ipv6: (lease: IPv6Subnet, network: IPv6Subnet)?) throws -> IPMasquerade? {
        guard options.ipMasq else { return nil }
        let rules = MasqueradeRules(network: network, subnet: subnet, networkV6: ipv6?.network, subnetV6: ipv6?.lease)
        let masquerade = try IPMasquerade(rules: rules, logger: logger)
        try masquerade.apply()
        let v6 = ipv6.map { " and table \(MasqueradeRules.familyV6) \(MasqueradeRules.table) for \($0.network) (this host \($0.lease))" } ?? ""
        logger.info("ip-masq: table \(MasqueradeRules.family) \(MasqueradeRules.table) installed for \(network) (this host \(subnet))\(v6), checked every \(options.masqueradeResync)")
        return masquerade
    }

    /// With etcd, start-up waits for etcd (and for the network config to be written), retrying with
    /// backoff and saying why each time; the embedded store's errors are final.
    func startupRetry<T: Sendable>(_ what: String, _ op: DaemonMetrics.StoreOperation,
                                   _ body: () async throws -> T) async throws -> T {
        guard options.etcd != nil else { return try await body() }
        var delay = Duration.seconds(1)
        while true {
            do { return try await body() } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { throw error }
                metrics.storeError(op)
                notifier.status("waiting: \(what) failed: \(error)")
                logger.error("\(what) failed: \(error); retrying in \(delay)")
                try? await Task.sleep(for: delay)
                if Task.isShuttingDownGracefully { throw error }
                delay = min(delay * 2, .seconds(10))
            }
        }
    }

    /// Renews ahead of expiry; a lost lease is acquired again (the same subnet when still free), a
    /// failing store is retried without disturbing the datapath.
    func renewLoop(store: any LeaseStore, lease initial: Lease, attributes: LeaseAttributes) async {
        var lease = initial
        while !Task.isCancelled {
            let remaining = Duration.seconds(max(0, lease.expiration.timeIntervalSinceNow))
            do { try await Task.sleep(for: options.renewDelay(remaining: remaining)) } catch { return }
            do {
                lease = try await store.renewLease(lease, ttl: options.leaseTTL)
                status.leaseHeld(lease)
                logger.debug("renewed lease \(lease.subnet) until \(lease.expiration)")
            } catch LeaseStoreError.leaseLost(let subnet) {
                logger.warning("lease \(subnet) was lost; acquiring again")
                status.leaseLost()
                do {
                    let again = try await store.acquireLease(attributes: attributes, subnetFileSubnet: subnet,
                                                             subnetFileSubnetV6: lease.subnetV6, ttl: options.leaseTTL)
                    if again.subnet != subnet || again.subnetV6 != lease.subnetV6 {
                        logger.error("re-acquired a different subnet \(again.subnet)\(again.subnetV6.map { " + \($0)" } ?? "") (was \(subnet)\(lease.subnetV6.map { " + \($0)" } ?? "")); restart twilld to move to it")
                    }
                    lease = again
                    status.leaseHeld(again)
                } catch {
                    metrics.storeError(.reacquire)
                    logger.warning("re-acquiring the lease failed: \(error); retrying")
                    try? await Task.sleep(for: retryDelay)
                }
            } catch {
                metrics.storeError(.renew)
                logger.warning("renewing lease \(lease.subnet) failed: \(error); retrying")
                do { try await Task.sleep(for: retryDelay) } catch { return }
            }
        }
    }

    private var retryDelay: Duration { min(.seconds(60), options.leaseTTL / 4) }

    /// Feeds every change of the lease set into the peer table; a broken watch is restarted.
    func watchLoop(store: any LeaseStore, peers initial: LeasePeers, directory: PeerDirectory) async {
        var leasePeers = initial
        var current = Set(directory.snapshot().table.peers.map(\.description))
        while !Task.isCancelled {
            do {
                for try await leases in store.watchLeases() {
                    let peers = leasePeers.peers(from: leases, logger: logger)
                    let next = Set(peers.map(\.description))
                    for added in next.subtracting(current).sorted() { logger.info("peer added: \(added)") }
                    for removed in current.subtracting(next).sorted() { logger.info("peer removed: \(removed)") }
                    if next != current { directory.publish(PeerTable(peers: peers)) }
                    current = next
                }
            } catch {
                if Task.isCancelled { return }
                metrics.storeError(.watch)
                logger.warning("watching leases failed: \(error); retrying")
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

enum DaemonError: Error, CustomStringConvertible {
    case datapath(String)
    var description: String {
        switch self {
        case .datapath(let why): "the datapath did not start: \(why)"
        }
    }
}
