import Foundation
import TwillControl
import TwillWire

/// One `<prefix>/subnets/...` key as listed or watched: the subnet, flannel's lease value, and the
/// etcd lease that gives it its TTL.
struct EtcdLeaseEntry: Sendable, Equatable {
    var key: String
    var subnet: IPv4Subnet
    /// The IPv6 half of a dual-stack key, kept even when this node's config has no IPv6.
    var subnetV6: IPv6Subnet?
    var value: [UInt8]
    /// nil when the value is not flannel's lease JSON: the subnet still counts as taken.
    var attributes: LeaseAttributes?
    var etcdLease: Int64
    var modRevision: Int64

    /// nil for keys that are not subnet keys (Lease.parseDualStackKey accepts full paths and dual-stack keys).
    /// Without `parseValue` the attributes stay nil: choosing a subnet needs the values of this node's
    /// leases only, and parsing a thousand others on every attempt would dominate its cost.
    init?(_ kv: EtcdKeyValue, parseValue: Bool = true) {
        let key = kv.keyString
        guard let subnets = Lease.parseDualStackKey(key) else { return nil }
        self.key = key
        subnet = subnets.v4
        subnetV6 = subnets.v6
        value = kv.value
        attributes = parseValue ? try? LeaseAttributes(json: Data(kv.value)) : nil
        etcdLease = kv.lease
        modRevision = kv.modRevision
    }

    /// The Lease a consumer sees; nil for an unreadable value.
    func lease(expiration: Date) -> Lease? {
        attributes.map { Lease(subnet: subnet, subnetV6: subnetV6, attributes: $0, expiration: expiration) }
    }

    /// Stands in for an unreadable value when choosing a subnet: it occupies the subnet and matches no
    /// node's public IP (0.0.0.0 is never one).
    var occupyingLease: Lease {
        Lease(subnet: subnet, subnetV6: subnetV6,
              attributes: attributes ?? LeaseAttributes(publicIP: IPv4Address(0), backendType: ""),
              expiration: .distantFuture)
    }
}
