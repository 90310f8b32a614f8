import Foundation
import TwillOverlay

/// Writes the datapath counters as `name value` lines, atomically, for operators and the demo
/// (the Prometheus endpoint is the long-term home of these numbers).
enum StatsFile {
    static func text(_ c: DatapathCounters, peers: Int, engine: String) -> String {
        var lines = ["engine \(engine)", "peers \(peers)"]
        for counter in DatapathCounters.Counter.allCases { lines.append("\(counter) \(c.value(counter))") }
        for (reason, count) in c.dropSnapshot() { lines.append("drop_\(reason) \(count)") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func write(_ text: String, to path: String) {
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else { return }
        _ = rename(tmp, path)
    }
}
