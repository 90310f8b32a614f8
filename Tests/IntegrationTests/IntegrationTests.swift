// Runs the namespace scenarios in Tests/Integration/*.sh against the built twilld. Each script builds
// its own hosts and pods (namespaces twi<pid><letter>-*), checks, and tears everything down; this
// wrapper only runs it with a hard time limit and reports its output when it fails.
import Foundation
import Glibc
import Testing

/// This file is <repo>/Tests/IntegrationTests/IntegrationTests.swift.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

enum IntegrationEnvironment {
    /// The scenarios need root (namespaces) and the network tools they drive.
    static var available: Bool {
        getuid() == 0 && ["ip", "iperf3", "python3"].allSatisfy(hasTool)
    }

    static func hasTool(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        // `ip` lives in /usr/sbin, which a non-login PATH may lack.
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin"]
        return directories.contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// TWILL_BIN_DIR (scripts/test.sh sets it), else the default debug build.
    static var binaryDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["TWILL_BIN_DIR"], !dir.isEmpty { return dir }
        return repositoryRoot.appendingPathComponent(".build/debug").path
    }
}

struct ScriptRun {
    var status: Int32
    var output: String
    var timedOut: Bool
    var seconds: Double
}

/// Runs `bash Tests/Integration/<script> args...`; after `timeout` its process group gets SIGTERM
/// (the script's EXIT trap tears the namespaces down), and SIGKILL 20 s later if it is still there.
func runScenario(_ script: String, _ arguments: [String] = [], timeout: Duration = .seconds(240)) async throws -> ScriptRun {
    // The script's TMPDIR: whatever it leaves there (a SIGKILL skips its trap) goes with it.
    let scratch = FileManager.default.temporaryDirectory
        .appendingPathComponent("twill-itest-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let logURL = scratch.appendingPathComponent("output.log")
    _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
    // A file, not a pipe: nobody has to drain it while the script runs.
    let log = try FileHandle(forWritingTo: logURL)
    defer { try? log.close() }

    let process = Process()
    // The test process blocks most signals on its threads and the child inherits that mask; env
    // --default-signal unblocks them (and execs bash in place), so SIGTERM can reach the script.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["--default-signal", "/bin/bash",
                         repositoryRoot.appendingPathComponent("Tests/Integration/\(script)").path] + arguments
    process.currentDirectoryURL = repositoryRoot
    var environment = ProcessInfo.processInfo.environment
    environment["TWILL_BIN_DIR"] = IntegrationEnvironment.binaryDirectory
    environment["TMPDIR"] = scratch.path
    environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    process.environment = environment
    process.standardOutput = log
    process.standardError = log
    process.standardInput = FileHandle.nullDevice

    let clock = ContinuousClock()
    let start = clock.now
    try process.run()
    let pid = process.processIdentifier
    // Foundation starts the script as the leader of its own process group: signalling the group
    // also stops a foreground child, which would otherwise hold bash's trap back until it ends.
    let target = getpgid(pid) == pid ? -pid : pid
    var timedOut = false
    while process.isRunning {
        if clock.now - start > timeout {
            timedOut = true
            kill(target, SIGTERM)
            let grace = clock.now
            while process.isRunning && clock.now - grace < .seconds(20) {
                try await Task.sleep(for: .milliseconds(100))
            }
            if process.isRunning { kill(target, SIGKILL) }
            break
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    process.waitUntilExit()
    let elapsed = clock.now - start
    var output = String(decoding: (try? Data(contentsOf: logURL)) ?? Data(), as: UTF8.self)
    let leftovers = removeLeftoverNamespaces(ofScriptPID: pid)
    if !leftovers.isEmpty {
        output += "\nwrapper: removed leftover namespaces: \(leftovers.joined(separator: " "))\n"
        Issue.record("\(script) left namespaces behind: \(leftovers.joined(separator: " "))")
    }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return ScriptRun(status: process.terminationStatus, output: output, timedOut: timedOut, seconds: seconds)
}

/// The scripts name their namespaces twi<bash pid><letter>-...; any still there after the script
/// ended (a SIGKILL skips its trap) are destroyed with the topology library.
private func removeLeftoverNamespaces(ofScriptPID pid: Int32) -> [String] {
    let list = shell("ip netns list").output.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    let mine = list.filter { name in
        guard name.hasPrefix("twi\(pid)") else { return false }
        let rest = name.dropFirst("twi\(pid)".count)
        return rest.first.map { !$0.isNumber } ?? false
    }
    let prefixes = Set(mine.compactMap { $0.split(separator: "-").first.map(String.init) })
    for prefix in prefixes {
        shell(". '\(repositoryRoot.path)/scripts/lib/topology.sh'; topo_destroy '\(prefix)'")
    }
    return mine
}

@discardableResult
private func shell(_ command: String) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", "PATH=$PATH:/usr/sbin:/sbin; \(command)"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return (127, "") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs one scenario and turns a failure into an issue carrying the script's whole output.
func expectScenario(_ script: String, _ arguments: [String] = [], timeout: Duration = .seconds(240)) async throws {
    let binary = IntegrationEnvironment.binaryDirectory + "/twilld"
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        Issue.record("no twilld at \(binary): build first (swift build) or set TWILL_BIN_DIR")
        return
    }
    let run = try await runScenario(script, arguments, timeout: timeout)
    let title = ([script] + arguments).joined(separator: " ")
    if run.timedOut {
        Issue.record("\(title) was stopped after \(timeout); output:\n\(run.output)")
    } else if run.status != 0 {
        Issue.record("\(title) failed (exit \(run.status)) after \(String(format: "%.1f", run.seconds)) s; output:\n\(run.output)")
    } else {
        // The scripts end with a short summary; keep it visible in the test log.
        print("\(title): passed in \(String(format: "%.1f", run.seconds)) s\n\(run.output)")
    }
}

@Suite("Integration scenarios (network namespaces)", .serialized,
       .enabled(if: IntegrationEnvironment.available, "needs root, ip, iperf3 and python3"))
struct IntegrationTests {
    @Test("overlay: 3 hosts x 2 pods, all cross-host pings with TTL 61, 100 MiB checksummed TCP",
          arguments: ["udp", "vxlan"], ["uring", "syscalls"])
    func overlay(format: String, engine: String) async throws {
        try await expectScenario("overlay.sh", [format, engine, "auto"])
    }

    /// Every offload off on its own, only one on, and none at all: a kernel that lacks or breaks one
    /// still gets a working overlay.
    @Test("overlay with offloads switched", arguments: [
        "none", "tun-uso,udp-gso,udp-gro,tcp-gro", "tun-tso,tun-uso,udp-gro,tcp-gro", "tun-tso,tun-uso,udp-gso,tcp-gro",
        "tun-tso,tun-uso,udp-gso,udp-gro", "tun-tso", "udp-gro,tcp-gro",
    ])
    func overlayOffloads(offloads: String) async throws {
        try await expectScenario("overlay.sh", ["vxlan", offloads.hasPrefix("tun-tso") ? "syscalls" : "uring", offloads])
    }

    @Test("overlay with 3 queues: flows spread, one outer source port per flow", arguments: [
        ("vxlan", "uring"), ("udp", "syscalls"),
    ])
    func overlayQueues(format: String, engine: String) async throws {
        try await expectScenario("overlay.sh", [format, engine, "auto", "3"])
    }

    @Test("interop: a kernel flannel.1 host and a twilld host, both directions")
    func interop() async throws {
        try await expectScenario("interop.sh")
    }

    @Test("wireformat: udp payload is the inner packet; vxlan header and inner Ethernet")
    func wireformat() async throws {
        try await expectScenario("wireformat.sh")
    }

    @Test("antispoof: crafted VXLAN datagrams are dropped and counted exactly")
    func antispoof() async throws {
        try await expectScenario("antispoof.sh")
    }

    @Test("store: races, restarts, corrupt store, invalid config and flags")
    func store() async throws {
        try await expectScenario("store.sh")
    }

    @Test("fallback: io_uring denied by seccomp, the syscall engine forwards")
    func fallback() async throws {
        try await expectScenario("fallback.sh")
    }

    @Test("etcd: flannel's etcd schema, config retry, renewals, a flanneld host joining, lost keys, udp",
          .enabled(if: IntegrationEnvironment.hasTool("etcd") && IntegrationEnvironment.hasTool("etcdctl"),
                   "needs etcd and etcdctl"))
    func etcd() async throws {
        try await expectScenario("etcd.sh")
    }

    // Guards a fixed bug: cached etcd lease expiries were trusted after an outage, although etcd extends
    // every lease when it comes back, so peers that had not renewed yet were dropped for seconds.
    @Test("etcd-faults: a member killed, all of etcd down 60 s, paused 15 s, compactions",
          .enabled(if: IntegrationEnvironment.hasTool("etcd") && IntegrationEnvironment.hasTool("etcdctl"),
                   "needs etcd and etcdctl"))
    func etcdFaults() async throws {
        try await expectScenario("etcd-faults.sh")
    }

    @Test("cni: twill-cni ADD/CHECK/DEL/VERSION through bridge + host-local, pods on two hosts ping and move TCP",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge")
                       && IntegrationEnvironment.hasTool("iptables"),
                   "needs containernetworking-plugins (/usr/lib/cni) and iptables"))
    func cni() async throws {
        try await expectScenario("cni.sh")
    }

    @Test("metrics: /metrics equals the stats file, /healthz, /readyz through lease loss, loopback only")
    func metrics() async throws {
        try await expectScenario("metrics.sh")
    }

    @Test("ipmasq: pods reach the outside masqueraded, pod to pod untouched, rules restored and removed",
          .enabled(if: IntegrationEnvironment.hasTool("nft"), "needs nft (Debian package nftables)"))
    func ipmasq() async throws {
        try await expectScenario("ipmasq.sh")
    }

    @Test("systemd: READY=1 after the subnet file, watchdog pings, STOPPING=1; the unit verifies",
          .enabled(if: IntegrationEnvironment.hasTool("systemd-analyze"), "needs systemd-analyze (Debian package systemd)"))
    func systemd() async throws {
        try await expectScenario("systemd.sh")
    }

    // Guards a fixed bug: fixed 2048-byte slots dropped every inner packet above about 1982 bytes on a
    // jumbo-frame underlay although twilld advertised an MTU of 8950.
    @Test("mtu: a 9000-byte underlay, full-size overlay packets and TCP cross")
    func mtu() async throws {
        try await expectScenario("mtu.sh", ["9000"])
    }

    /// With the offloads (UDP GRO: several datagrams per receive, the offload loop) and without them
    /// (the plain loop; oversized datagrams refused by the engine).
    @Test("storm: hostile datagrams during a TCP stream, every drop counter exact", arguments: ["auto", "none"])
    func storm(offloads: String) async throws {
        try await expectScenario("storm.sh", [offloads])
    }

    @Test("restart: SIGKILL mid-stream, back within 2 s with its subnet and peers; SIGTERM leaves nothing")
    func restart() async throws {
        try await expectScenario("restart.sh")
    }

    @Test("churn: hosts join and leave, peers follow, nothing sent to a departed host")
    func churn() async throws {
        try await expectScenario("churn.sh")
    }

    @Test("overload: unthrottled UDP, every loss counted, bounded memory, recovery")
    func overload() async throws {
        try await expectScenario("overload.sh")
    }

    /// SOAK_SECONDS (default 60) sets the length; the time limit follows it.
    @Test("soak: 60 s of mixed traffic, flat RSS, every packet accounted for, no leaked slot")
    func soak() async throws {
        let seconds = ProcessInfo.processInfo.environment["SOAK_SECONDS"].flatMap { Int($0) } ?? 60
        try await expectScenario("soak.sh", timeout: .seconds(seconds + 180))
    }

    @Test("listen: only the overlay port is open beyond loopback (embedded store, queues, etcd)")
    func listen() async throws {
        try await expectScenario("listen.sh")
    }

    @Test("dualstack: IPv4+IPv6 pods on 3 hosts, both formats, IPv4 and IPv6 underlays; kernel VXLAN peer over IPv6")
    func dualStack() async throws {
        try await expectScenario("dualstack.sh", timeout: .seconds(400))
    }
}
