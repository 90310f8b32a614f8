import ArgumentParser
import CLiburing
import Foundation
import Logging
import ServiceLifecycle
import TwillControl
import TwillIO
import TwillWire

struct TwilldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "twilld",
        abstract: "Twill: a flannel-compatible overlay network daemon with an io_uring datapath.",
        discussion: """
            Leases a subnet for this host, sets up the TUN device and routes, and forwards traffic to the \
            other hosts in flannel's udp or vxlan format. Without --etcd-endpoints it uses the embedded \
            store: one file shared by every daemon on this machine. Every flag may also be given as \
            FLANNELD_<NAME> in the environment (for example FLANNELD_PUBLIC_IP).
            """,
        version: TwillVersion.string)

    @Option(help: "etcd endpoints, comma separated (http:// or https://). Without it the embedded store is used.")
    var etcdEndpoints: String?

    @Option(help: "etcd key prefix of the network (flannel's).")
    var etcdPrefix: String = "/coreos.com/network"

    @Option(name: .customLong("etcd-cafile"), help: ArgumentHelp("CA bundle to verify etcd's certificate.", valueName: "path"))
    var etcdCAFile: String?

    @Option(name: .customLong("etcd-certfile"), help: ArgumentHelp("Client certificate for etcd.", valueName: "path"))
    var etcdCertFile: String?

    @Option(name: .customLong("etcd-keyfile"), help: ArgumentHelp("Client key for etcd.", valueName: "path"))
    var etcdKeyFile: String?

    @Option(help: ArgumentHelp("Username for etcd authentication.", valueName: "name"))
    var etcdUsername: String?

    @Option(help: ArgumentHelp("Password for etcd authentication.", valueName: "password"))
    var etcdPassword: String?

    @Option(help: ArgumentHelp("The embedded store's file, shared by every daemon on this machine.", valueName: "path"))
    var localStore: String = "/var/lib/twill/leases.json"

    @Option(help: ArgumentHelp("The network config (flannel's JSON) for the embedded store.", valueName: "path"))
    var netConfigPath: String = "/etc/twill/net-conf.json"

    @Option(help: ArgumentHelp("Interface (name or IPv4 address) for the underlay. Default: the default route's.", valueName: "name|ip"))
    var iface: String?

    @Option(help: ArgumentHelp("This host's IPv4 address on the underlay, published to peers. Default: the interface's.", valueName: "ip"))
    var publicIP: String?

    @Option(name: .customLong("public-ipv6"),
            help: ArgumentHelp("This host's IPv6 address on the underlay (dual stack: IPv6 pods' traffic then travels over IPv6). Default: the interface's first global IPv6 address, if any.", valueName: "ip"))
    var publicIPv6: String?

    @Option(help: ArgumentHelp("Where to write the subnet file.", valueName: "path"))
    var subnetFile: String = "/run/flannel/subnet.env"

    @Option(help: ArgumentHelp("Renew the lease this many minutes before it expires (1...1439).", valueName: "minutes"))
    var subnetLeaseRenewMargin: Int = 60

    @Option(help: ArgumentHelp("Lifetime of the lease in seconds (flannel: 24 h).", valueName: "seconds"))
    var subnetLeaseTTL: Int = 86_400

    @Option(help: "I/O engine: auto (io_uring unless forbidden), uring or syscalls.")
    var ioEngine: IOEnginePreference = .auto

    @Option(help: ArgumentHelp("Name of the TUN device.", valueName: "name"))
    var tunName: String = "twill0"

    @Option(help: ArgumentHelp("Where the VTEP MAC is kept across restarts. Default: /var/lib/twill/vtep-mac-<public ip>.", valueName: "path"))
    var vtepMACFile: String?

    @Option(help: ArgumentHelp("Packets handled per batch.", valueName: "n"))
    var batchSize: Int = 64

    @Option(help: ArgumentHelp("Offloads: auto (every one the kernel grants), none, or a comma list of tun-tso, tun-uso, udp-gso, udp-gro, tcp-gro.", valueName: "list"))
    var offloads: String = "auto"

    @Option(help: ArgumentHelp("Datapath queues (TUN queues and sockets, two threads each). Default: half the cores, at least 1, at most 8.", valueName: "n"))
    var queues: Int?

    @Option(help: ArgumentHelp("Write the datapath counters to this file every 0.5 s.", valueName: "path"))
    var statsFile: String?

    @Option(name: .customLong("healthz-ip"),
            help: ArgumentHelp("Address to serve /healthz, /readyz and /metrics on (flanneld's default is 0.0.0.0).", valueName: "ip"))
    var healthzIP: String = "127.0.0.1"

    @Option(help: ArgumentHelp("Port to serve /healthz, /readyz and /metrics on; 0 serves nothing (flanneld's default).", valueName: "port"))
    var healthzPort: Int = 0

    @Flag(help: "Masquerade traffic leaving the Network, and from outside to other hosts' subnets (nftables table ip twill).")
    var ipMasq: Bool = false

    @Option(help: ArgumentHelp("With --ip-masq, check the rules every this many seconds and restore them.", valueName: "seconds"))
    var iptablesResync: Int = 5

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Long option names, for FLANNELD_<NAME> lookups.
    static let optionNames = [
        "etcd-endpoints", "etcd-prefix", "etcd-cafile", "etcd-certfile", "etcd-keyfile", "etcd-username",
        "etcd-password", "local-store", "net-config-path", "iface", "public-ip", "public-ipv6", "subnet-file",
        "subnet-lease-renew-margin", "subnet-lease-ttl", "io-engine", "tun-name", "vtep-mac-file", "batch-size",
        "stats-file", "healthz-ip", "healthz-port", "ip-masq", "iptables-resync", "log-level", "offloads",
        "queues",
    ]
    /// Options that are switches rather than values.
    static let flagNames: Set<String> = ["ip-masq"]

    func validate() throws {
        guard (1...1439).contains(subnetLeaseRenewMargin) else {
            throw ValidationError("--subnet-lease-renew-margin must be 1...1439 minutes, got \(subnetLeaseRenewMargin)")
        }
        guard subnetLeaseTTL >= 2 else {
            throw ValidationError("--subnet-lease-ttl must be at least 2 seconds, got \(subnetLeaseTTL)")
        }
        guard (1...1024).contains(batchSize) else {
            throw ValidationError("--batch-size must be 1...1024, got \(batchSize)")
        }
        if let queues, !(1...64).contains(queues) {
            throw ValidationError("--queues must be 1...64, got \(queues)")
        }
        if case .failure(let e) = Offloads.parse(offloads) {
            throw ValidationError("--offloads: \(e)")
        }
        if let publicIP, IPv4Address(publicIP) == nil {
            throw ValidationError("--public-ip must be an IPv4 address, got '\(publicIP)'")
        }
        if let publicIPv6 {
            guard let a = IPv6Address(publicIPv6), !a.isMulticast, a != IPv6Address(high: 0, low: 0) else {
                throw ValidationError("--public-ipv6 must be a unicast IPv6 address, got '\(publicIPv6)'")
            }
        }
        guard !tunName.isEmpty, tunName.utf8.count < 16 else {
            throw ValidationError("--tun-name must be 1...15 characters, got '\(tunName)'")
        }
        if (etcdCertFile == nil) != (etcdKeyFile == nil) {
            throw ValidationError("--etcd-certfile and --etcd-keyfile go together: give both or neither")
        }
        if (etcdUsername == nil) != (etcdPassword == nil) {
            throw ValidationError("--etcd-username and --etcd-password go together: give both or neither")
        }
        guard IPv4Address(healthzIP) != nil || IPv6Address(healthzIP) != nil else {
            throw ValidationError("--healthz-ip must be an IPv4 or IPv6 address, got '\(healthzIP)'")
        }
        guard (0...65535).contains(healthzPort) else {
            throw ValidationError("--healthz-port must be 0...65535 (0: no server), got \(healthzPort)")
        }
        guard (1...86_400).contains(iptablesResync) else {
            throw ValidationError("--iptables-resync must be 1...86400 seconds, got \(iptablesResync)")
        }
        if let e = etcdEndpoints, e.split(separator: ",").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("--etcd-endpoints must list at least one endpoint, e.g. http://127.0.0.1:2379")
        }
    }

    /// main.swift drops the capabilities itself, before any other thread exists; this entry point
    /// (ArgumentParser's own `main`) does it as early as it can.
    func run() async throws { try await runDaemon(capabilityDrop: twill_keep_only_capability(TWILL_CAP_NET_ADMIN)) }

    /// - Parameter capabilityDrop: what dropping all capabilities but CAP_NET_ADMIN returned (0 or -errno).
    func runDaemon(capabilityDrop: Int32) async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = logLevel
            return h
        }
        let logger = Logger(label: "twilld")
        if capabilityDrop == 0 {
            logger.info("capabilities: kept CAP_NET_ADMIN only")
        } else {
            logger.warning("could not drop capabilities (\(String(cString: strerror(-capabilityDrop)))); running with those it has")
        }
        let daemon = Daemon(options: try DaemonOptions(command: self), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: daemon)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

extension IOEnginePreference: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}
