import Foundation

/// One run of every workload over one datapath.
struct RunResult: Codable {
    var datapath: String
    var repeatIndex: Int
    var tcp1Gbps: Double?
    var tcp1Retransmits: Int?
    var tcp4Gbps: Double?
    var udp64DeliveredPPS: Double?
    var udp64LossPercent: Double?
    var udp1400DeliveredPPS: Double?
    var udp1400LossPercent: Double?
    var pingP50Micros: Double?
    var pingP99Micros: Double?
    /// CPU seconds the two daemons used per gigabit moved in the 1-stream TCP test (Twill only).
    var daemonCPUSecondsPerGbit: Double?
    /// CPU seconds the whole machine used per gigabit moved in the 1-stream TCP test.
    var machineCPUSecondsPerGbit: Double?
    /// The larger of the two daemons' peak RSS, in MiB (Twill only).
    var daemonPeakRSSMiB: Double?
    var errors: [String] = []
}

struct Workloads {
    let shell: Shell
    let seconds: Int
    let pings: Int

    func run(_ t: Topology, repeatIndex: Int) -> RunResult {
        var r = RunResult(datapath: t.datapath.rawValue, repeatIndex: repeatIndex)
        let cpu0 = daemonCPU(t.daemonPIDs)
        let machine0 = machineBusySeconds()
        if let tcp = iperf(t, "-t \(seconds)") {
            r.tcp1Gbps = tcp.gbps
            r.tcp1Retransmits = tcp.retransmits
            let gbits = tcp.gbps * Double(seconds)
            if gbits > 0 {
                if !t.daemonPIDs.isEmpty { r.daemonCPUSecondsPerGbit = (daemonCPU(t.daemonPIDs) - cpu0) / gbits }
                r.machineCPUSecondsPerGbit = (machineBusySeconds() - machine0) / gbits
            }
        } else { r.errors.append("tcp1") }
        if let tcp = iperf(t, "-t \(seconds) -P 4") { r.tcp4Gbps = tcp.gbps } else { r.errors.append("tcp4") }
        if let u = udp(t, length: 64) { (r.udp64DeliveredPPS, r.udp64LossPercent) = u } else { r.errors.append("udp64") }
        if let u = udp(t, length: 1400) { (r.udp1400DeliveredPPS, r.udp1400LossPercent) = u } else { r.errors.append("udp1400") }
        if let p = ping(t) { (r.pingP50Micros, r.pingP99Micros) = p } else { r.errors.append("ping") }
        if !t.daemonPIDs.isEmpty {
            r.daemonPeakRSSMiB = t.daemonPIDs.compactMap(peakRSSMiB).max()
        }
        return r
    }

    private func json(_ text: String) -> [String: Any]? {
        guard let start = text.firstIndex(of: "{") else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text[start...].utf8))) as? [String: Any]
    }

    private func iperf(_ t: Topology, _ args: String) -> (gbps: Double, retransmits: Int)? {
        let out = shell.run("ip netns exec \(t.clientNamespace) iperf3 -c \(t.serverAddress) \(args) -J",
                            timeout: Double(seconds) + 30)
        guard out.ok, let j = json(out.output), let end = j["end"] as? [String: Any],
              let recv = end["sum_received"] as? [String: Any], let bps = recv["bits_per_second"] as? Double else { return nil }
        let sent = end["sum_sent"] as? [String: Any]
        return (bps / 1e9, (sent?["retransmits"] as? Int) ?? 0)
    }

    /// Unlimited-rate UDP: datagrams delivered per second and the loss, from the receiver's side.
    private func udp(_ t: Topology, length: Int) -> (pps: Double, loss: Double)? {
        let out = shell.run("ip netns exec \(t.clientNamespace) iperf3 -c \(t.serverAddress) -u -b 0 -l \(length) -t \(seconds) -J",
                            timeout: Double(seconds) + 30)
        guard out.ok, let j = json(out.output), let end = j["end"] as? [String: Any],
              let sum = end["sum"] as? [String: Any] else { return nil }
        let packets = (sum["packets"] as? Double) ?? Double((sum["packets"] as? Int) ?? 0)
        let lost = (sum["lost_packets"] as? Double) ?? Double((sum["lost_packets"] as? Int) ?? 0)
        let secs = (sum["seconds"] as? Double) ?? Double(seconds)
        guard packets > 0, secs > 0 else { return nil }
        return ((packets - lost) / secs, 100 * lost / packets)
    }

    private func ping(_ t: Topology) -> (p50: Double, p99: Double)? {
        let out = shell.run("ip netns exec \(t.clientNamespace) ping -c \(pings) -i 0.002 -W 1 \(t.serverAddress)",
                            timeout: Double(pings) * 0.01 + 30)
        let rtts = out.output.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "time=") else { return nil }
            return Double(line[r.upperBound...].split(separator: " ").first ?? "").map { $0 * 1000 }
        }.sorted()
        guard !rtts.isEmpty else { return nil }
        func q(_ p: Double) -> Double { rtts[min(rtts.count - 1, Int(Double(rtts.count) * p))] }
        return (q(0.5), q(0.99))
    }

    private func daemonCPU(_ pids: [Int32]) -> Double {
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        return pids.reduce(0) { sum, pid in
            guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = s.lastIndex(of: ")") else { return sum }
            let f = s[s.index(after: close)...].split(separator: " ")
            // After the command name: state is field 3; utime and stime are fields 14 and 15.
            guard f.count > 13, let u = Double(f[11]), let k = Double(f[12]) else { return sum }
            return sum + (u + k) / tick
        }
    }

    private func machineBusySeconds() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = s.split(separator: "\n").first else { return 0 }
        let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard v.count >= 5 else { return 0 }
        let idle = v[3] + v[4]
        return (v.reduce(0, +) - idle) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func peakRSSMiB(_ pid: Int32) -> Double? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }.map { $0 / 1024 }
        }
        return nil
    }
}
