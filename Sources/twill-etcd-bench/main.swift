// twill-etcd-bench: N simulated nodes acquire leases at once through separate EtcdLeaseStore
// instances (one HTTP client each, as separate daemons would have), then the result is checked by
// listing. Exits 1 when two nodes hold one subnet, 2 when a node got no lease.
import Foundation
import Logging
import Synchronization
import TwillControl
import TwillEtcd
import TwillWire

let usage = """
    usage: twill-etcd-bench --endpoints URL[,URL...] [--nodes 1000] [--network 10.0.0.0/12] [--subnet-len 24]
                            [--ttl 120] [--prefix /twill-bench/<time>] [--timeout 10] [--propagation 200]
    Writes the network config under the prefix, then every node acquires a lease at once. Leases are
    left to expire after --ttl seconds. Then --propagation more leases are written one at a time while
    a watch runs, timing each from the write's commit to the watch delivering it.
    """

/// Counts the stores' "retrying" warnings (one per lost race) across all nodes.
struct RetryCounter: LogHandler {
    static let total = Atomic<Int>(0)
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.message.description.hasPrefix("retrying") { RetryCounter.total.add(1, ordering: .relaxed) }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(64)
}

var options: [String: String] = [:]
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard flag.hasPrefix("--"), let value = arguments.popFirst() else { fail(usage) }
    options[String(flag.dropFirst(2))] = value
}
guard let endpointList = options["endpoints"] else { fail(usage) }
let endpoints = endpointList.split(separator: ",").map(String.init)
let nodeCount = Int(options["nodes"] ?? "1000") ?? 0
let network = options["network"] ?? "10.0.0.0/12"
let subnetLength = Int(options["subnet-len"] ?? "24") ?? 0
let ttl = Duration.seconds(Int(options["ttl"] ?? "120") ?? 120)
let prefix = options["prefix"] ?? "/twill-bench/\(Int(Date().timeIntervalSince1970))"
let timeout = Duration.seconds(Int(options["timeout"] ?? "10") ?? 10)
guard nodeCount > 0, nodeCount <= 65536 else { fail("--nodes must be 1 to 65536") }

let quiet = Logger(label: "twill.bench") { _ in SwiftLogNoOpLogHandler() }
let configJSON = #"{"Network":"\#(network)","SubnetLen":\#(subnetLength),"Backend":{"Type":"vxlan"}}"#
let admin = try EtcdLeaseStore(endpoints: endpoints, prefix: prefix, logger: quiet, requestTimeout: timeout)
let config: NetworkConfig
do {
    config = try await admin.writeNetworkConfig(configJSON)
} catch {
    try? await admin.shutdown()
    fail("cannot write the config: \(error)")
}
let leasable = Int((config.subnetMax.value - config.subnetMin.value) / config.subnetSize) + 1
print("nodes: \(nodeCount); network \(config.network), /\(config.subnetLength) subnets, \(leasable) leasable; "
    + "prefix \(prefix); endpoints \(endpoints.joined(separator: ","))")

/// Node i: public IP 100.64.0.0 + i + 1, a MAC derived from i.
func attributes(of node: Int) -> LeaseAttributes {
    let ip = IPv4Address(IPv4Address("100.64.0.0")!.value + UInt32(node) + 1)
    let mac = MACAddress(String(format: "02:42:%02x:%02x:%02x:%02x", (node >> 24) & 0xff, (node >> 16) & 0xff,
                                (node >> 8) & 0xff, node & 0xff))!
    return .vxlan(publicIP: ip, vni: 1, vtepMAC: mac)
}

let stores = try (0..<nodeCount).map { node in
    try EtcdLeaseStore(endpoints: endpoints, prefix: prefix,
                       logger: Logger(label: "node-\(node)") { _ in RetryCounter() }, requestTimeout: timeout)
}
let clock = ContinuousClock()
let started = clock.now
// (node, subnet or error text, seconds taken)
let results = await withTaskGroup(of: (Int, Result<IPv4Subnet, LeaseStoreError>, Double).self) { group in
    for (node, store) in stores.enumerated() {
        group.addTask {
            let begin = clock.now
            let outcome: Result<IPv4Subnet, LeaseStoreError>
            do {
                outcome = .success(try await store.acquireLease(attributes: attributes(of: node), subnetFileSubnet: nil,
                                                                ttl: ttl).subnet)
            } catch let error as LeaseStoreError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(.io(path: "node \(node)", reason: "\(error)"))
            }
            let elapsed = clock.now - begin
            return (node, outcome, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
    }
    var collected: [(Int, Result<IPv4Subnet, LeaseStoreError>, Double)] = []
    for await result in group { collected.append(result) }
    return collected
}
let total = clock.now - started
for store in stores { try? await store.shutdown() }

let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
var holders: [IPv4Subnet: [Int]] = [:]
var failures: [String: Int] = [:]
for (node, outcome, _) in results {
    switch outcome {
    case .success(let subnet): holders[subnet, default: []].append(node)
    case .failure(let error): failures["\(error)", default: 0] += 1
    }
}
let acquired = holders.values.reduce(0) { $0 + $1.count }
let latencies = results.map(\.2).sorted()
func percentile(_ p: Double) -> String {
    String(format: "%.3f s", latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))])
}
print(String(format: "acquired %d of %d leases in %.3f s (%.0f per second)", acquired, nodeCount, seconds,
             Double(acquired) / seconds))
print("latency per node: p50 \(percentile(0.5)), p90 \(percentile(0.9)), p99 \(percentile(0.99)), "
    + "max \(percentile(1.0))")
print("retries (lost create races, logged): \(RetryCounter.total.load(ordering: .relaxed))")
for (reason, count) in failures.sorted(by: { $0.value > $1.value }) { print("failed: \(count) × \(reason)") }

// Duplicates: two nodes told they hold one subnet, or a listed key that holds another node's value.
var duplicates = holders.values.filter { $0.count > 1 }.reduce(0) { $0 + $1.count - 1 }
do {
    let listed = try await admin.leases()
    var byIP: [IPv4Address: IPv4Subnet] = [:]
    for lease in listed { byIP[lease.attributes.publicIP] = lease.subnet }
    let listedSubnets = Set(listed.map(\.subnet))
    var mismatched = 0
    for (subnet, nodes) in holders {
        for node in nodes where byIP[attributes(of: node).publicIP] != subnet { mismatched += 1 }
        if !listedSubnets.contains(subnet) { mismatched += 1 }
    }
    duplicates += mismatched
    print("listed \(listed.count) leases (\(listedSubnets.count) distinct subnets); duplicates: \(duplicates)")
} catch {
    print("listing failed: \(error)")
    try? await admin.shutdown()
    exit(3)
}

// Watch propagation: what a running daemon waits between a peer's lease write and its peer table.
let propagationCount = Int(options["propagation"] ?? "200") ?? 0
if propagationCount > 0 {
    let seenAt = Mutex<[IPv4Subnet: ContinuousClock.Instant]>([:])
    let watcher = try EtcdLeaseStore(endpoints: endpoints, prefix: prefix, logger: quiet, requestTimeout: timeout)
    let writer = try EtcdLeaseStore(endpoints: endpoints, prefix: prefix, logger: quiet, requestTimeout: timeout)
    let watchTask = Task {
        for try await leases in watcher.watchLeases() {
            let now = clock.now
            seenAt.withLock { seen in for l in leases where seen[l.subnet] == nil { seen[l.subnet] = now } }
        }
    }
    // Wait until the watch has delivered the existing set.
    for _ in 0..<500 where seenAt.withLock({ $0.count }) < acquired { try? await Task.sleep(for: .milliseconds(10)) }
    var delays: [Double] = []
    for i in 0..<propagationCount {
        guard let lease = try? await writer.acquireLease(attributes: attributes(of: nodeCount + 1 + i),
                                                         subnetFileSubnet: nil, ttl: ttl) else { continue }
        let committed = clock.now
        var seen: ContinuousClock.Instant?
        let deadline = committed + .seconds(5)
        while seen == nil && clock.now < deadline {
            seen = seenAt.withLock { $0[lease.subnet] }
            if seen == nil { try? await Task.sleep(for: .microseconds(200)) }
        }
        guard let seen else { continue }
        let d = seen < committed ? Duration.zero : seen - committed
        delays.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
    }
    watchTask.cancel()
    try? await watcher.shutdown()
    try? await writer.shutdown()
    delays.sort()
    if delays.isEmpty {
        print("watch propagation: nothing delivered")
    } else {
        func p(_ q: Double) -> String { String(format: "%.1f ms", delays[min(delays.count - 1, Int(Double(delays.count) * q))]) }
        print("watch propagation (lease write committed -> watch delivered), \(delays.count) of \(propagationCount): "
            + "p50 \(p(0.5)), p99 \(p(0.99)), max \(p(1.0))")
    }
}
try? await admin.shutdown()
if duplicates > 0 { exit(1) }
if acquired < nodeCount { exit(2) }
