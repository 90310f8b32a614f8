/// One line of the gateway's watch stream: `{"result":{...}}`, or `{"error":{...}}` when the stream
/// itself failed.
struct EtcdWatchMessage: Decodable, Sendable, Equatable {
    var revision: Int64 = 0
    var created = false
    var canceled = false
    /// Set when the requested start revision was compacted away: the watch cannot resume from it.
    var compactRevision: Int64 = 0
    var cancelReason = ""
    var events: [EtcdWatchEvent] = []
    /// A stream-level failure reported by the gateway (gRPC code and message).
    var errorCode: Int?
    var errorMessage: String?

    init() {}

    private enum TopKeys: String, CodingKey { case result, error }

    private enum ResultKeys: String, CodingKey {
        case header, created, canceled, events
        case compactRevision = "compact_revision"
        case cancelReason = "cancel_reason"
    }

    private enum HeaderKeys: String, CodingKey { case revision }

    private enum ErrorKeys: String, CodingKey {
        case message
        case grpcCode = "grpc_code"
        case code
    }

    init(from decoder: any Decoder) throws {
        let top = try decoder.container(keyedBy: TopKeys.self)
        if top.contains(.error) {
            let error = try top.nestedContainer(keyedBy: ErrorKeys.self, forKey: .error)
            errorMessage = try error.decodeIfPresent(String.self, forKey: .message) ?? "the watch stream failed"
            errorCode = try error.decodeIfPresent(Int.self, forKey: .grpcCode)
                ?? error.decodeIfPresent(Int.self, forKey: .code)
        }
        guard top.contains(.result) else { return }
        let c = try top.nestedContainer(keyedBy: ResultKeys.self, forKey: .result)
        if c.contains(.header) {
            revision = try c.nestedContainer(keyedBy: HeaderKeys.self, forKey: .header).etcdInt64(forKey: .revision)
        }
        created = try c.etcdBool(forKey: .created)
        canceled = try c.etcdBool(forKey: .canceled)
        compactRevision = try c.etcdInt64(forKey: .compactRevision)
        cancelReason = try c.decodeIfPresent(String.self, forKey: .cancelReason) ?? ""
        events = try c.decodeIfPresent([EtcdWatchEvent].self, forKey: .events) ?? []
    }
}
