/// The fields Twill reads from etcd's unary replies (range, txn, lease grant/revoke/timetolive,
/// authenticate). One shape for all of them: the gateway leaves out whatever a reply does not use.
struct EtcdReply: Decodable, Sendable, Equatable {
    /// The store's revision when the request was served (header.revision).
    var revision: Int64 = 0
    /// range: the keys found.
    var kvs: [EtcdKeyValue] = []
    /// txn: whether every compare held (so the success ops ran).
    var succeeded = false
    /// txn: the keys found by the range ops that ran, in op order.
    var rangeResults: [EtcdKeyValue] = []
    /// lease grant / timetolive: the lease ID.
    var leaseID: Int64 = 0
    /// lease grant: the TTL granted; timetolive: the seconds left, -1 when the lease is gone.
    var ttl: Int64 = 0
    /// authenticate: the token for the Authorization header.
    var token: String?

    init() {}

    private enum CodingKeys: String, CodingKey {
        case header, kvs, succeeded, responses, token
        case leaseID = "ID"
        case ttl = "TTL"
    }

    private enum HeaderKeys: String, CodingKey { case revision }

    private enum OpKeys: String, CodingKey {
        case range = "response_range"
    }

    private enum RangeKeys: String, CodingKey { case kvs }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.header) {
            revision = try c.nestedContainer(keyedBy: HeaderKeys.self, forKey: .header).etcdInt64(forKey: .revision)
        }
        kvs = try c.decodeIfPresent([EtcdKeyValue].self, forKey: .kvs) ?? []
        succeeded = try c.etcdBool(forKey: .succeeded)
        if c.contains(.responses) {
            var ops = try c.nestedUnkeyedContainer(forKey: .responses)
            while !ops.isAtEnd {
                let op = try ops.nestedContainer(keyedBy: OpKeys.self)
                if op.contains(.range) {
                    let range = try op.nestedContainer(keyedBy: RangeKeys.self, forKey: .range)
                    rangeResults += try range.decodeIfPresent([EtcdKeyValue].self, forKey: .kvs) ?? []
                }
            }
        }
        leaseID = try c.etcdInt64(forKey: .leaseID)
        ttl = try c.etcdInt64(forKey: .ttl)
        token = try c.decodeIfPresent(String.self, forKey: .token)
    }
}
