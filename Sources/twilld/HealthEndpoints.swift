import NIOHTTP1

/// The three paths the health server answers.
enum HealthEndpoints {
    static func reply(to path: String, status: DaemonStatus, metrics: DaemonMetrics) -> HTTPReply {
        switch path {
        case "/healthz":
            // Alive: the process serves requests. Readiness is /readyz's question.
            return .text(.ok, "ok")
        case "/readyz":
            let r = status.readiness()
            return .text(r.ready ? .ok : .serviceUnavailable, r.reason)
        case "/metrics":
            return HTTPReply(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8",
                             body: metrics.scrape(status))
        default:
            return .text(.notFound, "not found: \(path) (served: /healthz, /readyz, /metrics)")
        }
    }
}
