import TwillTestSupport
import Foundation
import Testing
import TwillControl
import TwillWire

/// flannel's dual-stack allocation: the i-th IPv4 subnet goes with the i-th IPv6 subnet.
@Suite struct SubnetAllocatorDualStackTests {
    let dual: NetworkConfig
    let later = Date() + 3600

    init() throws {
        dual = try config(#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48"}"#)
    }

    func lease(_ v4: String, _ v6: String?, _ publicIP: String, expiration: Date? = nil) -> Lease {
        Lease(subnet: subnet(v4), subnetV6: v6.map(subnet6), attributes: .udp(publicIP: ip(publicIP)),
              expiration: expiration ?? later)
    }

    @Test func pairsGoByIndexFromBothMinimums() {
        let allocator = SubnetAllocator(config: dual)
        let free = allocator.freePairs(leases: [], limit: 3)
        #expect(free.map(\.v4) == [subnet("10.5.1.0/24"), subnet("10.5.2.0/24"), subnet("10.5.3.0/24")])
        #expect(free.map(\.v6) == [subnet6("fc00:0:0:1::/64"), subnet6("fc00:0:0:2::/64"), subnet6("fc00:0:0:3::/64")])
        // Without IPv6 there are no pairs.
        #expect(SubnetAllocator(config: try! config(#"{"Network":"10.5.0.0/16"}"#)).freePairs(leases: [], limit: 3).isEmpty)
    }

    @Test func aPairIsFreeOnlyWhenNeitherHalfIsTaken() {
        let allocator = SubnetAllocator(config: dual)
        let leases = [
            lease("10.5.1.0/24", "fc00:0:0:99::/64", "192.0.2.1"), // takes index 1's IPv4 half
            lease("10.5.200.0/24", "fc00:0:0:2::/64", "192.0.2.2"), // takes index 2's IPv6 half
            lease("10.5.3.0/24", nil, "192.0.2.3"), // an IPv4-only lease takes only its IPv4 half
            lease("10.5.100.0/24", "fc00:0:0:4::/63", "192.0.2.4"), // a /63 left over takes indexes 4 and 5
        ]
        let free = allocator.freePairs(leases: leases, limit: 3)
        #expect(free.map(\.v4) == [subnet("10.5.6.0/24"), subnet("10.5.7.0/24"), subnet("10.5.8.0/24")])
        #expect(free.map(\.v6) == [subnet6("fc00:0:0:6::/64"), subnet6("fc00:0:0:7::/64"), subnet6("fc00:0:0:8::/64")])
    }

    @Test func pairsEndWithTheShorterRange() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","SubnetMin":"10.5.250.0","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMax":"fc00:0:0:3::"}"#)
        let allocator = SubnetAllocator(config: c)
        #expect(allocator.freePairs(leases: [], limit: 100).map(\.v4)
            == [subnet("10.5.250.0/24"), subnet("10.5.251.0/24"), subnet("10.5.252.0/24")])
        let full = [lease("10.5.250.0/24", "fc00:0:0:1::/64", "192.0.2.1"), lease("10.5.1.0/24", "fc00:0:0:2::/64", "192.0.2.2"),
                    lease("10.5.252.0/24", "fc00:0:0:3::/64", "192.0.2.3")]
        #expect(throws: LeaseStoreError.noFreeSubnet(min: ip("10.5.250.0"), max: ip("10.5.255.0"), subnetLength: 24)) {
            try allocator.choose(leases: full, publicIP: ip("192.0.2.9"), subnetFileSubnet: nil)
        }
    }

    @Test func randomPairAmongTheFirst100() throws {
        let allocator = SubnetAllocator(config: dual)
        let candidates = allocator.freePairs(leases: [], limit: 100)
        #expect(candidates.count == 100)
        var seen = Set<IPv4Subnet>()
        for seed in 0..<100 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            let choice = try allocator.choose(leases: [], publicIP: ip("192.0.2.9"), subnetFileSubnet: nil,
                                              using: &generator)
            guard case .new(let v4, let v6) = choice else { Issue.record("unexpected \(choice)"); return }
            #expect(candidates.contains { $0.v4 == v4 && $0.v6 == v6 })
            seen.insert(v4)
        }
        #expect(seen.count > 30)
    }

    @Test func ownDualStackLeaseIsReused() throws {
        let allocator = SubnetAllocator(config: dual)
        let mine = lease("10.5.9.0/24", "fc00:0:0:9::/64", "192.0.2.9")
        let choice = try allocator.choose(leases: [lease("10.5.1.0/24", "fc00:0:0:1::/64", "192.0.2.1"), mine],
                                          publicIP: ip("192.0.2.9"), subnetFileSubnet: subnet("10.5.30.0/24"),
                                          subnetFileSubnetV6: subnet6("fc00:0:0:30::/64"))
        #expect(choice == .reuse(mine))
        #expect(choice.subnetV6 == subnet6("fc00:0:0:9::/64"))
    }

    @Test(arguments: [nil, "fc01:0:0:9::/64", "fc00:0:0:9::/80"] as [String?])
    func ownLeaseWithoutAFittingIPv6HalfIsStale(v6: String?) throws {
        let allocator = SubnetAllocator(config: dual)
        let old = lease("10.5.9.0/24", v6, "192.0.2.9")
        #expect(allocator.ownLease(of: ip("192.0.2.9"), in: [old]) == nil)
        #expect(allocator.staleLeases(of: ip("192.0.2.9"), in: [old]) == [old])
        var generator = SeededGenerator(seed: 3)
        let choice = try allocator.choose(leases: [old], publicIP: ip("192.0.2.9"), subnetFileSubnet: subnet("10.5.9.0/24"),
                                          subnetFileSubnetV6: subnet6("fc00:0:0:9::/64"), using: &generator)
        guard case .new(let v4, let newV6?) = choice else { Issue.record("unexpected \(choice)"); return }
        #expect(v4 != subnet("10.5.9.0/24"))
        #expect(dual.fits(v4, v6: newV6))
    }

    @Test func subnetFilePairIsUsedWhenBothHalvesFitAndAreFree() throws {
        let allocator = SubnetAllocator(config: dual)
        let others = [lease("10.5.1.0/24", "fc00:0:0:1::/64", "192.0.2.1")]
        // The halves need not share an index: the subnet file is what this node had.
        #expect(try allocator.choose(leases: others, publicIP: ip("192.0.2.9"), subnetFileSubnet: subnet("10.5.72.0/24"),
                                     subnetFileSubnetV6: subnet6("fc00:0:0:80::/64"))
            == .new(subnet("10.5.72.0/24"), v6: subnet6("fc00:0:0:80::/64")))
    }

    @Test(arguments: [
        ("10.5.72.0/24", nil), // no IPv6 half in the subnet file
        ("10.5.1.0/24", "fc00:0:0:72::/64"), // IPv4 half leased
        ("10.5.72.0/24", "fc00:0:0:1::/64"), // IPv6 half leased
        ("10.5.72.0/24", "fc00:0:0:0::/64"), // IPv6 half below IPv6SubnetMin
        ("10.5.72.0/24", "fc00:0:0:72::/80"), // wrong IPv6 length
        ("10.5.72.0/24", "fd00:0:0:72::/64"), // outside IPv6Network
    ] as [(String, String?)])
    func subnetFilePairIsSkippedWhenUnusable(v4: String, v6: String?) throws {
        let allocator = SubnetAllocator(config: dual)
        let others = [lease("10.5.1.0/24", "fc00:0:0:1::/64", "192.0.2.1")]
        for seed in 0..<10 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            let choice = try allocator.choose(leases: others, publicIP: ip("192.0.2.9"), subnetFileSubnet: subnet(v4),
                                              subnetFileSubnetV6: v6.map(subnet6), using: &generator)
            #expect(choice.subnet != subnet(v4) || choice.subnetV6 != v6.map(subnet6))
            #expect(dual.fits(choice.subnet, v6: choice.subnetV6))
            #expect(choice.subnet != subnet("10.5.1.0/24") && choice.subnetV6 != subnet6("fc00:0:0:1::/64"))
        }
    }

    @Test func withoutIPv6ADualStackPeerLeaseStillTakesItsIPv4Half() throws {
        let allocator = SubnetAllocator(config: try config(#"{"Network":"10.5.0.0/16"}"#))
        let peer = lease("10.5.1.0/24", "fc00:0:0:1::/64", "192.0.2.1")
        #expect(allocator.freeSubnets(leases: [peer], limit: 1) == [subnet("10.5.2.0/24")])
        // The IPv6 subnet-file half is ignored, and a choice has none.
        let choice = try allocator.choose(leases: [peer], publicIP: ip("192.0.2.9"), subnetFileSubnet: subnet("10.5.7.0/24"),
                                          subnetFileSubnetV6: subnet6("fc00:0:0:7::/64"))
        #expect(choice == .new(subnet("10.5.7.0/24")))
        #expect(choice.subnetV6 == nil)
    }
}
