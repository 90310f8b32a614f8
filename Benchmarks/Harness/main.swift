// twill-bench: compares Twill's datapaths with raw veth, the kernel's VXLAN (as flannel's vxlan
// backend sets it up) and a naive one-packet-per-syscall mode, between two hosts in network
// namespaces. Prints a table, writes a JSON file with every figure and an SVG chart.
import Foundation

struct Options {
    var quick = false
    var repeats = 3
    var seconds = 5
    var pings = 1000
    var out = ".bench-out"
    var twilld: String?
    var only: [Datapath] = Datapath.allCases
}

func parseOptions() -> Options {
    var o = Options()
    var args = Array(CommandLine.arguments.dropFirst())
    func value() -> String {
        guard !args.isEmpty else { fatalError("missing value") }
        return args.removeFirst()
    }
    while let a = args.first {
        args.removeFirst()
        switch a {
        case "--quick": o.quick = true; o.repeats = 1; o.seconds = 1; o.pings = 50
        case "--repeats": o.repeats = max(1, Int(value()) ?? 3)
        case "--seconds": o.seconds = max(1, Int(value()) ?? 5)
        case "--pings": o.pings = max(10, Int(value()) ?? 1000)
        case "--out": o.out = value()
        case "--twilld": o.twilld = value()
        case "--only":
            o.only = value().split(separator: ",").compactMap { Datapath(rawValue: String($0)) }
        case "-h", "--help":
            print("""
                usage: twill-bench [--quick] [--repeats N] [--seconds S] [--pings N] [--out DIR] [--twilld PATH] [--only a,b]
                datapaths: \(Datapath.allCases.map(\.rawValue).joined(separator: ", "))
                """)
            exit(0)
        default:
            print("unknown argument \(a) (see --help)")
            exit(64)
        }
    }
    return o
}

let options = parseOptions()
guard getuid() == 0 else { print("twill-bench needs root (network namespaces)"); exit(1) }
let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
let shell = Shell(repo: repo)
let twilld = options.twilld ?? [".build/release/twilld", ".build/debug/twilld"].map { "\(repo)/\($0)" }
    .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "twilld"
let work = NSTemporaryDirectory() + "twill-bench-\(getpid())"
let prefix = "twb\(getpid() % 100000)"
try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

// Leave nothing behind, also on Ctrl-C or SIGTERM.
func cleanup() {
    shell.run("topo_destroy \(prefix)", timeout: 60)
    try? FileManager.default.removeItem(atPath: work)
}
nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []
for sig in [SIGINT, SIGTERM] {
    signal(sig, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
    source.setEventHandler {
        FileHandle.standardError.write(Data("twill-bench: signal \(sig), cleaning up\n".utf8))
        cleanup()
        exit(130)
    }
    source.resume()
    signalSources.append(source)
}

let machine: [String: String] = [
    "kernel": shell.run("uname -r").output.trimmingCharacters(in: .whitespacesAndNewlines),
    "cpu": shell.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").output.trimmingCharacters(in: .whitespacesAndNewlines),
    "cores": shell.run("nproc").output.trimmingCharacters(in: .whitespacesAndNewlines),
    "twilld": twilld,
    "date": ISO8601DateFormatter().string(from: Date()),
]
print("twill-bench: \(options.only.count) datapaths x \(options.repeats) repeats, \(options.seconds) s per workload, \(options.pings) pings")
print("machine: \(machine["cpu"] ?? "?"), \(machine["cores"] ?? "?") cores, Linux \(machine["kernel"] ?? "?"); twilld \(twilld)")

var runs: [RunResult] = []
let workloads = Workloads(shell: shell, seconds: options.seconds, pings: options.pings)
var failed = false
for r in 0..<options.repeats {
    // Alternate the order so drift over time does not favour one datapath.
    let order = r % 2 == 0 ? options.only : options.only.reversed()
    for d in order {
        var t = Topology(shell: shell, prefix: prefix, work: work, twilld: twilld, datapath: d)
        let started = Date()
        do {
            try t.build()
            let result = workloads.run(t, repeatIndex: r)
            runs.append(result)
            let tcp = result.tcp1Gbps.map { String(format: "%.2f Gbit/s", $0) } ?? "-"
            print("  [\(r + 1)/\(options.repeats)] \(d.rawValue): TCP \(tcp), ping p50 \(result.pingP50Micros.map { String(format: "%.0f us", $0) } ?? "-")\(result.errors.isEmpty ? "" : ", failed: \(result.errors.joined(separator: ","))") (\(Int(Date().timeIntervalSince(started))) s)")
            if !result.errors.isEmpty { failed = true }
        } catch {
            print("  [\(r + 1)/\(options.repeats)] \(d.rawValue): \(error)")
            failed = true
        }
        t.destroy()
    }
}
cleanup()

let command = "twill-bench " + CommandLine.arguments.dropFirst().joined(separator: " ")
let report = Report(runs: runs, datapaths: options.only, machine: machine, command: command)
print()
print(report.table())
try? FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
try report.json().write(to: URL(fileURLWithPath: options.out + "/bench.json"))
try Data(report.svg().utf8).write(to: URL(fileURLWithPath: options.out + "/bench.svg"))
print("\nwrote \(options.out)/bench.json and \(options.out)/bench.svg")
exit(failed ? 1 : 0)
