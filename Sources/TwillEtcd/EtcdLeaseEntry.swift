import Foundation
import TwillControl
import TwillWire

/// One `<prefix>/subnets/...` key as listed or watched: the subnet, flannel's lease value, and the
/// etcd lease that gives it its TTL.
struct EtcdLeaseEntry: Sendable, Equatable {
    var key: String
    var subnet: IPv4Subnet
    var value: [UInt8]
    /// nil when the value is not flannel's lease JSON: the subnet still counts as taken.
    var attributes: LeaseAttributes?
    var etcdLease: Int64
    var modRevision: Int64

    /// nil for keys that are not subnet keys (Lease.parseKey accepts full paths and dual-stack keys).
    /// Without `parseValue` the attributes stay nil: choosing a subnet needs the values of this node's
    /// leases only, and parsing a thousand others on every attempt would dominate its cost.
    init?(_ kv: EtcdKeyValue, parseValue: Bool = true) {
        let key = kv.keyString
        guard let subnet = Lease.parseKey(key) else { return nil }
        self.key = key
        self.subnet = subnet
        value = kv.value
        attributes = parseValue ? try? LeaseAttributes(json: Data(kv.value)) : nil
        etcdLease = kv.lease
        modRevision = kv.modRevision
    }

    /// The Lease a consumer sees; nil for an unreadable value.
    func lease(expiration: Date) -> Lease? {
        attributes.map { Lease(subnet: subnet, attributes: $0, expiration: expiration) }
    }

    /// Stands in for an unreadable value when choosing a subnet: it occupies the subnet and matches no
    /// node's public IP (0.0.0.0 is never one).
    var occupyingLease: Lease {
        Lease(subnet: subnet, attributes: attributes ?? LeaseAttributes(publicIP: IPv4Address(0), backendType: ""),
              expiration: .distantFuture)
    }
}
