import TwillTestSupport
import Foundation
import Testing
import TwillControl
import TwillWire

@Suite struct SubnetAllocatorTests {
    let config16: NetworkConfig
    let later = Date() + 3600

    init() throws { config16 = try config(#"{"Network":"10.5.0.0/16"}"#) }

    func lease(_ s: String, _ publicIP: String, expiration: Date? = nil) -> Lease {
        Lease(subnet: subnet(s), attributes: .udp(publicIP: ip(publicIP)), expiration: expiration ?? later)
    }

    @Test func reusesTheLeaseWithOurPublicIPFirst() throws {
        let allocator = SubnetAllocator(config: config16)
        let mine = lease("10.5.9.0/24", "192.0.2.9")
        let choice = try allocator.choose(leases: [lease("10.5.1.0/24", "192.0.2.1"), mine],
                                          publicIP: ip("192.0.2.9"), subnetFileSubnet: subnet("10.5.30.0/24"))
        #expect(choice == .reuse(mine))
        #expect(choice.subnet == subnet("10.5.9.0/24"))
    }

    @Test func prefersTheMostRecentlyRenewedOwnLease() throws {
        let allocator = SubnetAllocator(config: config16)
        let older = lease("10.5.3.0/24", "192.0.2.9", expiration: later)
        let newer = lease("10.5.4.0/24", "192.0.2.9", expiration: later + 60)
        #expect(allocator.ownLease(of: ip("192.0.2.9"), in: [older, newer]) == newer)
        #expect(allocator.ownLease(of: ip("192.0.2.9"), in: [newer, older]) == newer)
    }

    @Test func ownLeaseThatNoLongerFitsIsNotReusedButReportedStale() throws {
        let allocator = SubnetAllocator(config: config16)
        let old = lease("10.5.8.0/23", "192.0.2.9")
        var generator = SeededGenerator(seed: 1)
        let choice = try allocator.choose(leases: [old], publicIP: ip("192.0.2.9"), subnetFileSubnet: nil,
                                          using: &generator)
        guard case .new(let chosen, _) = choice else { Issue.record("reused \(choice)"); return }
        #expect(!SubnetAllocatorTests.overlaps(chosen, old.subnet))
        #expect(allocator.staleLeases(of: ip("192.0.2.9"), in: [old, lease("10.5.1.0/24", "192.0.2.1")]) == [old])
    }

    @Test func subnetFileSubnetIsUsedWhenFree() throws {
        let allocator = SubnetAllocator(config: config16)
        let choice = try allocator.choose(leases: [lease("10.5.1.0/24", "192.0.2.1")], publicIP: ip("192.0.2.9"),
                                          subnetFileSubnet: subnet("10.5.72.0/24"))
        #expect(choice == .new(subnet("10.5.72.0/24")))
    }

    @Test(arguments: [
        "10.5.1.0/24", // leased by another node
        "10.5.0.0/24", // below SubnetMin
        "10.6.72.0/24", // outside Network
        "10.5.72.0/25", // wrong length
        "10.5.64.0/20", // overlaps a lease
    ])
    func subnetFileSubnetIsSkippedWhenUnusable(previous: String) throws {
        let allocator = SubnetAllocator(config: config16)
        let leases = [lease("10.5.1.0/24", "192.0.2.1"), lease("10.5.70.0/24", "192.0.2.2")]
        for seed in 0..<20 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            let choice = try allocator.choose(leases: leases, publicIP: ip("192.0.2.9"),
                                              subnetFileSubnet: subnet(previous), using: &generator)
            #expect(choice.subnet != subnet(previous))
            #expect(config16.fits(choice.subnet))
            #expect(!leases.contains { SubnetAllocatorTests.overlaps($0.subnet, choice.subnet) })
        }
    }

    @Test func randomChoiceIsAmongTheFirst100FreeSubnets() throws {
        let allocator = SubnetAllocator(config: config16)
        let leases = [lease("10.5.1.0/24", "192.0.2.1"), lease("10.5.3.0/24", "192.0.2.3")]
        let candidates = Set(allocator.freeSubnets(leases: leases, limit: 100))
        #expect(candidates.count == 100)
        #expect(candidates.contains(subnet("10.5.2.0/24")))
        // 10.5.2.0 and 10.5.4.0 through 10.5.102.0: 1 and 3 are leased.
        #expect(candidates.contains(subnet("10.5.102.0/24")))
        #expect(!candidates.contains(subnet("10.5.103.0/24")))
        #expect(!candidates.contains(subnet("10.5.3.0/24")))
        var seen = Set<IPv4Subnet>()
        for seed in 0..<200 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            let choice = try allocator.choose(leases: leases, publicIP: ip("192.0.2.9"), subnetFileSubnet: nil,
                                              using: &generator)
            guard case .new(let chosen, _) = choice else { Issue.record("unexpected \(choice)"); return }
            #expect(candidates.contains(chosen))
            seen.insert(chosen)
        }
        // Spread, not a fixed pick: racing nodes should rarely collide.
        #expect(seen.count > 50)
    }

    @Test func sameSeedSameChoice() throws {
        let allocator = SubnetAllocator(config: config16)
        var a = SeededGenerator(seed: 42)
        var b = SeededGenerator(seed: 42)
        #expect(try allocator.choose(leases: [], publicIP: ip("192.0.2.9"), subnetFileSubnet: nil, using: &a)
            == allocator.choose(leases: [], publicIP: ip("192.0.2.9"), subnetFileSubnet: nil, using: &b))
    }

    @Test func freeSubnetsSkipLeasesOfAnyLength() throws {
        let allocator = SubnetAllocator(config: config16)
        // A /20 left from an older SubnetLen blocks the sixteen /24s it covers.
        let free = allocator.freeSubnets(leases: [lease("10.5.0.0/20", "192.0.2.1"), lease("10.5.17.0/24", "192.0.2.2"),
                                                  lease("10.5.18.128/25", "192.0.2.3")], limit: 3)
        #expect(free == [subnet("10.5.16.0/24"), subnet("10.5.19.0/24"), subnet("10.5.20.0/24")])
        #expect(allocator.freeSubnets(leases: [], limit: 2) == [subnet("10.5.1.0/24"), subnet("10.5.2.0/24")])
        // Leases outside the Network do not matter.
        #expect(allocator.freeSubnets(leases: [lease("10.6.1.0/24", "192.0.2.4")], limit: 1) == [subnet("10.5.1.0/24")])
    }

    @Test func freeSubnetsHonourTheRange() throws {
        let c = try config(#"{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.10.48.0"}"#)
        let free = SubnetAllocator(config: c).freeSubnets(leases: [lease("10.10.16.0/20", "192.0.2.1")], limit: 100)
        #expect(free == [subnet("10.10.0.0/20"), subnet("10.10.32.0/20"), subnet("10.10.48.0/20")])
    }

    @Test func worksAtTheTopOfTheAddressSpace() throws {
        let c = try config(#"{"Network":"255.255.255.0/24"}"#)
        let allocator = SubnetAllocator(config: c)
        #expect(allocator.freeSubnets(leases: [], limit: 100)
            == [subnet("255.255.255.64/26"), subnet("255.255.255.128/26"), subnet("255.255.255.192/26")])
        #expect(allocator.freeSubnets(leases: [lease("255.255.255.192/26", "192.0.2.1")], limit: 100).count == 2)
    }

    @Test func exhaustedRangeThrows() throws {
        let c = try config(#"{"Network":"192.168.7.0/28"}"#)
        let allocator = SubnetAllocator(config: c)
        let leases = ["192.168.7.4/30", "192.168.7.8/30", "192.168.7.12/30"].enumerated().map {
            lease($0.element, "192.0.2.\($0.offset + 1)")
        }
        #expect(throws: LeaseStoreError.noFreeSubnet(min: ip("192.168.7.4"), max: ip("192.168.7.12"), subnetLength: 30)) {
            try allocator.choose(leases: leases, publicIP: ip("192.0.2.9"), subnetFileSubnet: nil)
        }
        do {
            _ = try allocator.choose(leases: leases, publicIP: ip("192.0.2.9"), subnetFileSubnet: nil)
        } catch {
            #expect(error.description.contains("no free subnet in SubnetMin..SubnetMax"))
        }
        // The node that already holds one of them still gets it back.
        #expect(try allocator.choose(leases: leases, publicIP: ip("192.0.2.2"), subnetFileSubnet: nil)
            == .reuse(leases[1]))
    }

    @Test func hugeRangeWithOneCoveringLeaseIsFast() throws {
        let c = try config(#"{"Network":"10.0.0.0/8","SubnetLen":30}"#)
        let allocator = SubnetAllocator(config: c)
        let start = ContinuousClock.now
        #expect(allocator.freeSubnets(leases: [lease("10.0.0.0/8", "192.0.2.1")], limit: 100).isEmpty)
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    static func overlaps(_ a: IPv4Subnet, _ b: IPv4Subnet) -> Bool { a.contains(b.address) || b.contains(a.address) }
}
