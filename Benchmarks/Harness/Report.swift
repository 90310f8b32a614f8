import Foundation

/// Medians, spreads and ratios over the repeated runs; the terminal table, the JSON file and the chart.
struct Report {
    let runs: [RunResult]
    let datapaths: [Datapath]
    let machine: [String: String]
    let command: String

    struct Stat: Codable {
        var median: Double
        var min: Double
        var max: Double
        var samples: Int
    }

    static func stat(_ values: [Double]) -> Stat? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        let m = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        return Stat(median: m, min: s.first!, max: s.last!, samples: s.count)
    }

    func stat(_ d: Datapath, _ key: KeyPath<RunResult, Double?>) -> Stat? {
        Report.stat(runs.filter { $0.datapath == d.rawValue }.compactMap { $0[keyPath: key] })
    }

    nonisolated(unsafe) static let metrics: [(name: String, key: KeyPath<RunResult, Double?>, unit: String)] = [
        ("tcp1_gbps", \.tcp1Gbps, "Gbit/s"),
        ("tcp4_gbps", \.tcp4Gbps, "Gbit/s"),
        ("udp64_delivered_pps", \.udp64DeliveredPPS, "pkt/s"),
        ("udp64_loss_percent", \.udp64LossPercent, "%"),
        ("udp1400_delivered_pps", \.udp1400DeliveredPPS, "pkt/s"),
        ("udp1400_loss_percent", \.udp1400LossPercent, "%"),
        ("ping_p50_us", \.pingP50Micros, "us"),
        ("ping_p99_us", \.pingP99Micros, "us"),
        ("daemon_cpu_s_per_gbit", \.daemonCPUSecondsPerGbit, "s/Gbit"),
        ("machine_cpu_s_per_gbit", \.machineCPUSecondsPerGbit, "s/Gbit"),
        ("daemon_peak_rss_mib", \.daemonPeakRSSMiB, "MiB"),
    ]

    func table() -> String {
        func f(_ v: Double?, _ digits: Int = 2) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        func k(_ v: Double?) -> String { v.map { String(format: "%.0fk", $0 / 1000) } ?? "-" }
        // IPv6 datapaths compare with the kernel over IPv6, the rest with the kernel over IPv4.
        let kernel4 = stat(.kernelVXLAN, \.tcp1Gbps)?.median
        let kernel6 = stat(.kernelVXLANIPv6, \.tcp1Gbps)?.median
        var rows = [["datapath", "TCP 1 (Gbit/s)", "x kernel", "TCP 4", "UDP 64B pps (loss)", "UDP 1400B pps (loss)",
                     "ping p50/p99 us", "daemon CPU s/Gbit", "RSS MiB"]]
        for d in datapaths {
            let t1 = stat(d, \.tcp1Gbps)
            let kernel = d.isIPv6 ? kernel6 : kernel4
            let spread = t1.map { String(format: " [%.2f-%.2f]", $0.min, $0.max) } ?? ""
            rows.append([
                d.rawValue,
                f(t1?.median) + (t1.map { $0.samples > 1 } == true ? spread : ""),
                kernel.flatMap { k in t1.map { String(format: "%.2fx", $0.median / k) } } ?? "-",
                f(stat(d, \.tcp4Gbps)?.median),
                "\(k(stat(d, \.udp64DeliveredPPS)?.median)) (\(f(stat(d, \.udp64LossPercent)?.median, 1))%)",
                "\(k(stat(d, \.udp1400DeliveredPPS)?.median)) (\(f(stat(d, \.udp1400LossPercent)?.median, 1))%)",
                "\(f(stat(d, \.pingP50Micros)?.median, 0))/\(f(stat(d, \.pingP99Micros)?.median, 0))",
                f(stat(d, \.daemonCPUSecondsPerGbit)?.median),
                f(stat(d, \.daemonPeakRSSMiB)?.median, 1),
            ])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        return rows.enumerated().map { i, r in
            let line = r.enumerated().map { c, s in s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
            return i == 0 ? line + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") : line
        }.joined(separator: "\n")
    }

    func json() throws -> Data {
        var summary: [String: [String: Stat]] = [:]
        for d in datapaths {
            var m: [String: Stat] = [:]
            for metric in Report.metrics { if let s = stat(d, metric.key) { m[metric.name] = s } }
            summary[d.rawValue] = m
        }
        struct Document: Encodable {
            let command: String
            let machine: [String: String]
            let summary: [String: [String: Stat]]
            let runs: [RunResult]
        }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(Document(command: command, machine: machine, summary: summary, runs: runs))
    }

    /// Two horizontal bar panels: 1-stream TCP throughput and ping p50 per datapath.
    func svg() -> String {
        let rowHeight = 26.0
        let left = 190.0
        let barWidth = 420.0
        let panelHeight = rowHeight * Double(datapaths.count) + 40
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(left + barWidth + 120))" height="\(Int(panelHeight * 2 + 30))" font-family="sans-serif" font-size="13">
            <rect width="100%" height="100%" fill="white"/>

            """
        func panel(_ title: String, _ y0: Double, _ key: KeyPath<RunResult, Double?>, _ unit: String, _ fmt: String) {
            let values = datapaths.map { stat($0, key)?.median ?? 0 }
            let top = max(values.max() ?? 1, 1e-9)
            out += "<text x=\"10\" y=\"\(y0 + 18)\" font-weight=\"bold\">\(title)</text>\n"
            for (i, d) in datapaths.enumerated() {
                let y = y0 + 30 + Double(i) * rowHeight
                let w = barWidth * values[i] / top
                let color = d == .kernelVXLAN || d == .kernelVXLANIPv6 ? "#888888" : d == .veth ? "#bbbbbb" : d == .naive ? "#d98c5f" : "#3b7dd8"
                out += "<text x=\"\(left - 8)\" y=\"\(y + 15)\" text-anchor=\"end\">\(d.rawValue)</text>\n"
                out += "<rect x=\"\(left)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", w))\" height=\"\(rowHeight - 8)\" fill=\"\(color)\"/>\n"
                out += "<text x=\"\(left + w + 6)\" y=\"\(y + 15)\">\(String(format: fmt, values[i])) \(unit)</text>\n"
            }
        }
        panel("TCP, 1 stream (higher is better)", 0, \.tcp1Gbps, "Gbit/s", "%.2f")
        panel("Ping round trip, median (lower is better)", panelHeight, \.pingP50Micros, "us", "%.0f")
        return out + "</svg>\n"
    }
}
