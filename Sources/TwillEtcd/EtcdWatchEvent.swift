/// One change in a watch reply: a key put (created, updated or re-leased) or deleted (by a client or
/// by its lease expiring).
struct EtcdWatchEvent: Decodable, Sendable, Equatable {
    var isDelete: Bool
    var kv: EtcdKeyValue

    init(isDelete: Bool, kv: EtcdKeyValue) {
        self.isDelete = isDelete
        self.kv = kv
    }

    private enum CodingKeys: String, CodingKey { case type, kv }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The gateway leaves out "type" for PUT, the enum's zero value.
        isDelete = try c.decodeIfPresent(String.self, forKey: .type) == "DELETE"
        kv = try c.decode(EtcdKeyValue.self, forKey: .kv)
    }
}
