import Foundation

/// etcd's JSON gateway writes int64 fields as strings ("revision":"5"), leaves out fields that hold
/// their zero value, and base64-encodes keys and values; these read such fields.
extension KeyedDecodingContainer {
    /// An int64 written as a string or a number; absent means 0.
    func etcdInt64(forKey key: Key) throws -> Int64 {
        if let text = try? decodeIfPresent(String.self, forKey: key) {
            guard let value = Int64(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: self,
                                                       debugDescription: "\"\(text)\" is not an int64")
            }
            return value
        }
        return try decodeIfPresent(Int64.self, forKey: key) ?? 0
    }

    /// Base64-encoded bytes; absent means empty.
    func etcdBytes(forKey key: Key) throws -> [UInt8] {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return [] }
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not base64")
        }
        return [UInt8](data)
    }

    /// A boolean that the gateway leaves out when false.
    func etcdBool(forKey key: Key) throws -> Bool {
        try decodeIfPresent(Bool.self, forKey: key) ?? false
    }
}
