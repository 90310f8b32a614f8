import Foundation
import Metrics
import Prometheus
import Synchronization
import TwillOverlay

/// The daemon's Prometheus metrics, made through swift-metrics with swift-prometheus as the backend
/// (its own registry, not the process-wide MetricsSystem). The datapath's atomic counters are read
/// when /metrics is scraped and their growth since the last scrape is added to the Prometheus
/// counters, so the packet path never sees this code.
final class DaemonMetrics: Sendable {
    /// The operations whose lease-store failures are counted (`twill_store_errors_total{op}`).
    enum StoreOperation: String, CaseIterable, Sendable {
        case config, acquire, list, renew, reacquire, watch
    }

    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let exported = Mutex<Exported?>(nil)

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
        // Every op from the start, so rate() has a zero to begin with.
        for op in StoreOperation.allCases { _ = storeErrors(op) }
        _ = gauge("twill_ready")
    }

    /// One failed lease-store call (with etcd: etcd unreachable, an error answer, a broken watch).
    func storeError(_ op: StoreOperation) { storeErrors(op).increment() }

    /// The Prometheus text of every metric, after bringing the datapath's numbers up to date.
    func scrape(_ status: DaemonStatus) -> String {
        refresh(status)
        return registry.emitToString()
    }

    private func storeErrors(_ op: StoreOperation) -> Metrics.Counter {
        Metrics.Counter(label: "twill_store_errors_total", dimensions: [("op", op.rawValue)], factory: factory)
    }

    private func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Metrics.Gauge {
        Metrics.Gauge(label: name, dimensions: dimensions, factory: factory)
    }

    private func refresh(_ status: DaemonStatus) {
        let now = Date()
        gauge("twill_ready").record(status.readiness(at: now).ready ? 1 : 0)
        if let lease = status.lease {
            gauge("twill_lease_expiration_timestamp_seconds").record(lease.expiration.timeIntervalSince1970)
        }
        guard let datapath = status.datapath else { return }
        exported.withLock { exported in
            if exported == nil { exported = Exported(datapath, factory: factory) }
            exported!.update(datapath)
        }
    }
}

/// The datapath's metrics and the counter values last added to them.
private struct Exported {
    typealias C = DatapathCounters.Counter

    /// Each datapath counter and the Prometheus counter it feeds.
    private let counters: [(source: C, metric: Metrics.Counter)]
    private let drops: [(reason: DropReason, metric: Metrics.Counter)]
    private let batchMeans: [(packets: C, batches: C, metric: Metrics.Gauge)]
    private let peers: Metrics.Gauge
    private let running: Metrics.Gauge
    private var last: [C: UInt64] = [:]
    private var lastDrops: [DropReason: UInt64] = [:]

    init(_ d: DaemonStatus.Datapath, factory: any MetricsFactory) {
        func counter(_ name: String, _ dimensions: [(String, String)] = []) -> Metrics.Counter {
            Metrics.Counter(label: name, dimensions: dimensions, factory: factory)
        }
        func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Metrics.Gauge {
            Metrics.Gauge(label: name, dimensions: dimensions, factory: factory)
        }
        let format = ("format", d.format.rawValue)
        counters = [
            (.sentPackets, counter("twill_packets_total", [("direction", "egress"), format])),
            (.receivedPackets, counter("twill_packets_total", [("direction", "ingress"), format])),
            (.sentBytes, counter("twill_bytes_total", [("direction", "egress"), format])),
            (.receivedBytes, counter("twill_bytes_total", [("direction", "ingress"), format])),
            (.tunReadPackets, counter("twill_tun_packets_total", [("direction", "read")])),
            (.tunWritePackets, counter("twill_tun_packets_total", [("direction", "write")])),
            (.tunReadBytes, counter("twill_tun_bytes_total", [("direction", "read")])),
            (.tunWriteBytes, counter("twill_tun_bytes_total", [("direction", "write")])),
            (.egressBatches, counter("twill_batches_total", [("direction", "egress")])),
            (.ingressBatches, counter("twill_batches_total", [("direction", "ingress")])),
            (.icmpErrorsSent, counter("twill_icmp_errors_sent_total")),
            (.poolExhaustions, counter("twill_pool_exhaustions_total")),
        ]
        drops = DropReason.all.map { ($0, counter("twill_drops_total", [("reason", $0.description)])) }
        // An egress batch is one TUN read; an ingress batch one UDP receive.
        batchMeans = [
            (.tunReadPackets, .egressBatches, gauge("twill_batch_size_mean", [("direction", "egress")])),
            (.receivedPackets, .ingressBatches, gauge("twill_batch_size_mean", [("direction", "ingress")])),
        ]
        peers = gauge("twill_peers")
        running = gauge("twill_datapath_running")
        gauge("twill_io_engine", [("engine", d.engine)]).record(1)
        for offload in d.offloads {
            gauge("twill_offload_enabled", [("offload", offload.name)]).record(offload.enabled ? 1 : 0)
        }
    }

    mutating func update(_ d: DaemonStatus.Datapath) {
        let c = d.forwarder.counters
        for (source, metric) in counters {
            let value = c.value(source)
            metric.increment(by: Int64(clamping: value &- (last[source] ?? 0)))
            last[source] = value
        }
        for (reason, metric) in drops {
            let value = c.drops(reason)
            metric.increment(by: Int64(clamping: value &- (lastDrops[reason] ?? 0)))
            lastDrops[reason] = value
        }
        for (packets, batches, metric) in batchMeans {
            let n = c.value(batches)
            metric.record(n == 0 ? 0 : Double(c.value(packets)) / Double(n))
        }
        peers.record(d.directory.snapshot().table.count)
        running.record(d.forwarder.isRunning ? 1 : 0)
    }
}
