import ArgumentParser
import Foundation
import TwillIO
import TwillWire

/// The daemon's settings after validation and interface discovery.
struct DaemonOptions: Sendable {
    var storePath: String
    var netConfigPath: String
    var publicIP: IPv4Address
    /// `--public-ipv6`; without it a dual-stack overlay looks for a global IPv6 address on the underlay.
    var publicIPv6: IPv6Address?
    var underlay: UnderlayInterface
    var subnetFile: String
    var renewMargin: Duration
    var leaseTTL: Duration
    var engine: IOEnginePreference
    var tunName: String
    var vtepMACFile: String
    var batchSize: Int
    var statsFile: String?
    var offloads: Offloads
    var queues: Int
    var etcd: EtcdOptions?
    /// Where /healthz, /readyz and /metrics are served; nil with --healthz-port 0.
    var healthz: (host: String, port: Int)?
    var ipMasq: Bool
    var masqueradeResync: Duration

    /// Where the shared state lives when etcd is used.
    struct EtcdOptions: Sendable {
        var endpoints: [String]
        var prefix: String
        var caFile: String?
        var certFile: String?
        var keyFile: String?
        var username: String?
        var password: String?
    }

    init(command c: TwilldCommand) throws {
        let underlay: UnderlayInterface
        if let iface = c.iface {
            guard let found = UnderlayInterface.find(iface) else {
                throw ValidationError("--iface \(iface): no interface of that name or address has an IPv4 address")
            }
            underlay = found
        } else if let ip = c.publicIP, let found = UnderlayInterface.find(ip) {
            underlay = found
        } else if let found = UnderlayInterface.defaultRoute() {
            underlay = found
        } else {
            throw ValidationError("no interface with an IPv4 address found: give --iface or --public-ip")
        }
        let publicIP = c.publicIP.flatMap { IPv4Address($0) } ?? underlay.address
        self.storePath = c.localStore
        self.netConfigPath = c.netConfigPath
        self.publicIP = publicIP
        self.publicIPv6 = c.publicIPv6.flatMap { IPv6Address($0) }
        self.underlay = underlay
        self.subnetFile = c.subnetFile
        self.renewMargin = .seconds(c.subnetLeaseRenewMargin * 60)
        self.leaseTTL = .seconds(c.subnetLeaseTTL)
        self.engine = c.ioEngine
        self.tunName = c.tunName
        self.vtepMACFile = c.vtepMACFile ?? "/var/lib/twill/vtep-mac-\(publicIP)"
        self.batchSize = c.batchSize
        self.statsFile = c.statsFile
        self.offloads = (try? Offloads.parse(c.offloads).get()) ?? []
        // Two datapath threads per queue: half the cores keeps one thread per core.
        self.queues = c.queues ?? max(1, min(8, ProcessInfo.processInfo.activeProcessorCount / 2))
        self.healthz = c.healthzPort == 0 ? nil : (c.healthzIP, c.healthzPort)
        self.ipMasq = c.ipMasq
        self.masqueradeResync = .seconds(c.iptablesResync)
        self.etcd = c.etcdEndpoints.map { list in
            EtcdOptions(endpoints: list.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                            .filter { !$0.isEmpty },
                        prefix: c.etcdPrefix, caFile: c.etcdCAFile, certFile: c.etcdCertFile, keyFile: c.etcdKeyFile,
                        username: c.etcdUsername, password: c.etcdPassword)
        }
    }

    /// When to renew a lease that expires after `remaining`: `renewMargin` before expiry, or at half
    /// its life when the margin is longer than the lease (short test TTLs).
    func renewDelay(remaining: Duration) -> Duration {
        remaining > renewMargin ? remaining - renewMargin : remaining / 2
    }
}
