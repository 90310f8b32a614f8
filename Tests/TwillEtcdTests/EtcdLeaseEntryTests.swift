import Foundation
import Testing
import TwillControl
@testable import TwillEtcd
import TwillWire

@Suite struct EtcdLeaseEntryTests {
    static let value = Array(
        #"{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}"#.utf8)

    @Test func readsFlannelsKeyAndValue() throws {
        let kv = EtcdKeyValue(key: Array("/coreos.com/network/subnets/10.5.52.0-24".utf8), value: Self.value,
                              modRevision: 7, lease: 99)
        let entry = try #require(EtcdLeaseEntry(kv))
        #expect(entry.subnet == subnet("10.5.52.0/24"))
        #expect(entry.attributes == vxlan("192.0.2.1"))
        #expect(entry.etcdLease == 99)
        #expect(entry.modRevision == 7)
        let expiration = Date(timeIntervalSince1970: 1000)
        #expect(entry.lease(expiration: expiration)
            == Lease(subnet: subnet("10.5.52.0/24"), attributes: vxlan("192.0.2.1"), expiration: expiration))
    }

    @Test func valuesCanBeLeftUnparsed() throws {
        let kv = EtcdKeyValue(key: Array("/coreos.com/network/subnets/10.5.52.0-24".utf8), value: Self.value)
        let entry = try #require(EtcdLeaseEntry(kv, parseValue: false))
        #expect(entry.attributes == nil)
        #expect(entry.occupyingLease.subnet == subnet("10.5.52.0/24"))
    }

    @Test func dualStackKeysCountByTheirIPv4Half() throws {
        let kv = EtcdKeyValue(key: Array("/coreos.com/network/subnets/10.5.52.0-24&fc00::-64".utf8), value: Self.value)
        #expect(EtcdLeaseEntry(kv)?.subnet == subnet("10.5.52.0/24"))
    }

    @Test func otherKeysAreNotLeases() {
        for name in ["junk", "10.5.52.1-24"] {
            let kv = EtcdKeyValue(key: Array("/coreos.com/network/subnets/\(name)".utf8), value: Self.value)
            #expect(EtcdLeaseEntry(kv) == nil)
        }
    }

    @Test func anUnreadableValueStillOccupiesItsSubnet() throws {
        let entry = try #require(EtcdLeaseEntry(EtcdKeyValue(key: Array("/p/subnets/10.5.9.0-24".utf8),
                                                             value: Array("garbage".utf8))))
        #expect(entry.attributes == nil)
        #expect(entry.lease(expiration: Date()) == nil)
        #expect(entry.occupyingLease.subnet == subnet("10.5.9.0/24"))
        #expect(entry.occupyingLease.attributes.publicIP == IPv4Address(0))
    }
}
