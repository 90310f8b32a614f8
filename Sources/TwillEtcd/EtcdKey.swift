/// etcd key arithmetic. Keys travel as bytes (base64 in the JSON gateway), so ranges are computed on
/// bytes rather than on Characters.
enum EtcdKey {
    /// flanneld's --etcd-prefix without trailing slashes, so "/coreos.com/network/" and
    /// "/coreos.com/network" name the same keys.
    static func normalizedPrefix(_ prefix: String) -> String {
        var result = Substring(prefix)
        while result.count > 1 && result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }

    /// The range_end that makes a range or watch cover every key starting with `prefix`: the prefix
    /// with its last byte below 0xff incremented (what etcdctl's --prefix sends).
    static func rangeEnd(forPrefix prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        // No byte can be incremented: "\0" means "to the end of the keyspace" to etcd.
        return [0]
    }
}
