import Testing
import TwillWire

@Suite("IPv6Subnet")
struct IPv6SubnetTests {
    @Test func parsesAndContains() throws {
        let s = try #require(IPv6Subnet("fc00:0:0:5::/64"))
        #expect(s.prefixLength == 64)
        #expect(s.description == "fc00:0:0:5::/64")
        #expect(s.contains(IPv6Address("fc00:0:0:5::1")!))
        #expect(s.contains(IPv6Address("fc00:0:0:5:ffff:ffff:ffff:ffff")!))
        #expect(!s.contains(IPv6Address("fc00:0:0:6::1")!))
        #expect(s.lastAddress == IPv6Address("fc00:0:0:5:ffff:ffff:ffff:ffff")!)
    }

    @Test func hostBitsAndBadText() {
        #expect(IPv6Subnet("fc00::1/64") == nil, "host bits set")
        #expect(IPv6Subnet("fc00::1/64", strict: false) == IPv6Subnet("fc00::/64"))
        for bad in ["fc00::/129", "fc00::/", "fc00::", "fc00::/+8", "10.0.0.0/8", "fc00::/64/1", "/64"] {
            #expect(IPv6Subnet(bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: [0, 1, 8, 48, 63, 64, 65, 96, 124, 127, 128])
    func masksEveryLength(length: Int) throws {
        let all = IPv6Address(high: .max, low: .max)
        let s = try #require(IPv6Subnet(address: all, prefixLength: length))
        // The network keeps exactly `length` one bits.
        #expect(s.address.high.nonzeroBitCount + s.address.low.nonzeroBitCount == length)
        #expect(s.lastAddress == all)
        #expect(s.contains(all))
        let outside = IPv6Subnet(address: IPv6Address(high: 0, low: 0), prefixLength: length)!
        #expect(outside.contains(all) == (length == 0))
    }

    @Test func nestedSubnets() {
        let big = IPv6Subnet("fc00::/48")!
        #expect(big.contains(IPv6Subnet("fc00:0:0:7::/64")!))
        #expect(!IPv6Subnet("fc00:0:0:7::/64")!.contains(big))
        #expect(IPv6Subnet("fc00::/64")! < IPv6Subnet("fc00:0:0:1::/64")!)
    }
}
