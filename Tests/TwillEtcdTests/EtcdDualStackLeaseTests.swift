import TwillTestSupport
import Foundation
import Testing
import TwillControl
@testable import TwillEtcd
import TwillWire

/// flannel's dual-stack schema against a real etcd: `v4&v6` keys and the IPv6 members of the value.
@Suite(.enabled(if: etcdAvailable, "needs /usr/bin/etcd and /usr/bin/etcdctl (Debian: etcd-server, etcd-client)"))
struct EtcdDualStackLeaseTests {
    static let dualConfig =
        #"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}"#
    static let flannelValue =
        #"{"PublicIP":"192.0.2.11","PublicIPv6":"2001:db8::11","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#
    static let otherNodeValue =
        #"{"PublicIP":"192.0.2.12","PublicIPv6":"2001:db8::12","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:12"},"BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:00:13"}}"#

    static let attributes = LeaseAttributes.vxlan(publicIP: IPv4Address("192.0.2.11")!, vni: 1,
                                                  vtepMAC: MACAddress("c6:d2:32:6f:8f:44")!,
                                                  publicIPv6: IPv6Address("2001:db8::11")!,
                                                  vtepMACv6: MACAddress("c6:d2:32:6f:8f:44")!)

    @Test func acquireReadAndRenewDualStackLeases() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(Self.dualConfig)
            try await withStore(try cluster.store()) { store in
                // Another node's lease, as flanneld writes it.
                let otherKey = "/coreos.com/network/subnets/10.5.77.0-24&fc00:0:0:77::-64"
                try await cluster.etcdctl(["put", otherKey, Self.otherNodeValue])

                let lease = try await store.acquireLease(attributes: Self.attributes, subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                let v6 = try #require(lease.subnetV6)
                #expect(try await store.networkConfig().fits(lease.subnet, v6: v6))
                #expect(lease.subnet != subnet("10.5.77.0/24") && v6 != IPv6Subnet("fc00:0:0:77::/64"))
                let key = "/coreos.com/network/subnets/\(lease.subnet.address)-24&\(v6.address)-64"
                #expect(store.key(for: lease.subnet, v6: v6) == key)
                let value = try await cluster.etcdctl(["get", key, "--print-value-only"])
                #expect(value.trimmingCharacters(in: .newlines) == Self.flannelValue)

                // Both halves are read back, for our lease and the other node's.
                let listed = try await store.leases()
                let other = try #require(listed.first { $0.subnet == subnet("10.5.77.0/24") })
                #expect(other.subnetV6 == IPv6Subnet("fc00:0:0:77::/64"))
                #expect(other.attributes.publicIPv6 == IPv6Address("2001:db8::12"))
                #expect(other.attributes.vtepMACv6 == MACAddress("02:00:00:00:00:13"))
                let own = try #require(listed.first { $0.subnet == lease.subnet })
                #expect(own.subnetV6 == v6)
                #expect(own.attributes == Self.attributes)

                // Renewal keeps the dual key.
                let oldLeaseID = try await etcdLeaseID(cluster, key)
                let renewed = try await store.renewLease(lease, ttl: .seconds(600))
                #expect(renewed.key == lease.key && renewed.subnetV6 == v6)
                #expect(try await etcdLeaseID(cluster, key) != oldLeaseID)
                let keys = try await cluster.etcdctl(["get", "/coreos.com/network/subnets/", "--prefix", "--keys-only"])
                #expect(Set(keys.split(separator: "\n").map(String.init)) == [key, otherKey])

                // A restarted node (no subnet file) reuses both halves.
                let again = try await store.acquireLease(attributes: Self.attributes, subnetFileSubnet: nil,
                                                         ttl: .seconds(600))
                #expect(again.key == lease.key)
            }
        }
    }

    @Test func anIPv4OnlyLeaseIsReplacedByADualStackOne() async throws {
        try await EtcdTestCluster.with { cluster in
            try await cluster.putConfig(network16)
            try await withStore(try cluster.store()) { store in
                let old = try await store.acquireLease(attributes: Self.attributes, subnetFileSubnet: nil,
                                                       ttl: .seconds(600))
                #expect(old.subnetV6 == nil)
                try await cluster.putConfig(Self.dualConfig)
                let fresh = try await store.acquireLease(attributes: Self.attributes, subnetFileSubnet: old.subnet,
                                                         ttl: .seconds(600))
                #expect(fresh.subnetV6 != nil)
                #expect(try await store.networkConfig().fits(fresh.subnet, v6: fresh.subnetV6))
                let keys = try await cluster.etcdctl(["get", "/coreos.com/network/subnets/", "--prefix", "--keys-only"])
                #expect(keys.split(separator: "\n").map(String.init) == ["/coreos.com/network/subnets/" + fresh.key])
            }
        }
    }
}
