/// One key as etcd returns it (mvccpb.KeyValue).
struct EtcdKeyValue: Decodable, Sendable, Equatable {
    var key: [UInt8]
    var value: [UInt8]
    var modRevision: Int64
    var version: Int64
    /// The etcd lease the key is attached to; 0 for a key without a TTL.
    var lease: Int64

    init(key: [UInt8], value: [UInt8], modRevision: Int64 = 0, version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    private enum CodingKeys: String, CodingKey {
        case key, value, version, lease
        case modRevision = "mod_revision"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.etcdBytes(forKey: .key)
        value = try c.etcdBytes(forKey: .value)
        modRevision = try c.etcdInt64(forKey: .modRevision)
        version = try c.etcdInt64(forKey: .version)
        lease = try c.etcdInt64(forKey: .lease)
    }

    var keyString: String { String(decoding: key, as: UTF8.self) }
}
