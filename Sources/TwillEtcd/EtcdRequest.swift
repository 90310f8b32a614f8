import Foundation

/// Request bodies for etcd's v3 JSON gateway. Keys and values go as base64, int64s as strings (the
/// protobuf JSON mapping), so lease IDs above 2^53 survive.
enum EtcdRequest {
    static func range(key: [UInt8], rangeEnd: [UInt8]? = nil, keysOnly: Bool = false) -> Data {
        var body: [String: Any] = ["key": base64(key)]
        if let rangeEnd { body["range_end"] = base64(rangeEnd) }
        if keysOnly { body["keys_only"] = true }
        return encode(body)
    }

    /// A plain put, without a lease (the network config has no TTL).
    static func put(key: [UInt8], value: [UInt8]) -> Data {
        encode(["key": base64(key), "value": base64(value)])
    }

    static func grant(ttlSeconds: Int64) -> Data { encode(["TTL": String(ttlSeconds), "ID": "0"]) }

    static func revoke(leaseID: Int64) -> Data { encode(["ID": String(leaseID)]) }

    static func timeToLive(leaseID: Int64) -> Data { encode(["ID": String(leaseID)]) }

    static func authenticate(name: String, password: String) -> Data {
        encode(["name": name, "password": password])
    }

    /// flannel's create: put only if the key does not exist (version 0). The failure branch reads the
    /// key back, so a retried request whose first try was applied can recognise its own lease.
    static func create(key: [UInt8], value: [UInt8], leaseID: Int64) -> Data {
        txn(compare: ["target": "VERSION", "result": "EQUAL", "version": "0"], key: key,
            success: [put(key: key, value: value, leaseID: leaseID)], failure: [rangeOp(key)])
    }

    /// Re-put under a new lease only if nobody touched the key since it was read at `modRevision`.
    /// Success also reads the key first, to learn the lease that is being replaced.
    static func replace(key: [UInt8], modRevision: Int64, value: [UInt8], leaseID: Int64) -> Data {
        txn(compare: ["target": "MOD", "result": "EQUAL", "mod_revision": String(modRevision)], key: key,
            success: [rangeOp(key), put(key: key, value: value, leaseID: leaseID)], failure: [rangeOp(key)])
    }

    /// Renewal: re-put under a new lease only if the key still holds exactly our value (a missing key
    /// fails a VALUE compare in etcd).
    static func renew(key: [UInt8], value: [UInt8], leaseID: Int64) -> Data {
        txn(compare: ["target": "VALUE", "result": "EQUAL", "value": base64(value)], key: key,
            success: [rangeOp(key), put(key: key, value: value, leaseID: leaseID)], failure: [rangeOp(key)])
    }

    /// Deletes the key only if it is unchanged since it was read at `modRevision`.
    static func delete(key: [UInt8], modRevision: Int64) -> Data {
        txn(compare: ["target": "MOD", "result": "EQUAL", "mod_revision": String(modRevision)], key: key,
            success: [["request_delete_range": ["key": base64(key)]]], failure: [])
    }

    static func watch(key: [UInt8], rangeEnd: [UInt8], startRevision: Int64) -> Data {
        encode(["create_request": ["key": base64(key), "range_end": base64(rangeEnd),
                                   "start_revision": String(startRevision)]])
    }

    private static func txn(compare: [String: Any], key: [UInt8], success: [[String: Any]],
                            failure: [[String: Any]]) -> Data {
        var condition = compare
        condition["key"] = base64(key)
        return encode(["compare": [condition], "success": success, "failure": failure])
    }

    private static func put(key: [UInt8], value: [UInt8], leaseID: Int64) -> [String: Any] {
        ["request_put": ["key": base64(key), "value": base64(value), "lease": String(leaseID)]]
    }

    private static func rangeOp(_ key: [UInt8]) -> [String: Any] { ["request_range": ["key": base64(key)]] }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// Sorted keys make the bytes deterministic, which keeps tests and logs readable.
    private static func encode(_ object: [String: Any]) -> Data {
        // The objects are built above from strings, arrays and dictionaries only, which
        // JSONSerialization always accepts; the fallback is unreachable.
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}
