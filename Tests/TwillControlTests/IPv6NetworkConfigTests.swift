import Testing
import TwillControl
import TwillWire

@Suite struct IPv6NetworkConfigTests {
    @Test func defaultsAreA64PerNodeSkippingTheFirst() throws {
        let c = try IPv6NetworkConfig(network: subnet6("fc00::/48"))
        #expect(c.network == subnet6("fc00::/48"))
        #expect(c.subnetLength == 64)
        #expect(c.subnetMin == ip6("fc00:0:0:1::"))
        #expect(c.subnetMax == ip6("fc00:0:0:ffff::"))
    }

    @Test func defaultLengthIsThePrefixPlusTwoPastA62() throws {
        #expect(try IPv6NetworkConfig(network: subnet6("fc00::/62")).subnetLength == 64)
        let small = try IPv6NetworkConfig(network: subnet6("fc00::/63"))
        #expect(small.subnetLength == 65)
        #expect(small.subnetMin == ip6("fc00:0:0:0:8000::"))
        #expect(small.subnetMax == ip6("fc00:0:0:1:8000::"))
        let smallest = try IPv6NetworkConfig(network: subnet6("fc00::/122"))
        #expect(smallest.subnetLength == 124)
        #expect(smallest.subnetMin == ip6("fc00::10"))
        #expect(smallest.subnetMax == ip6("fc00::30"))
    }

    @Test func explicitValuesAreKept() throws {
        let c = try IPv6NetworkConfig(network: subnet6("fc00::/48"), subnetLength: 80,
                                      subnetMin: ip6("fc00:0:0:10::"), subnetMax: ip6("fc00:0:0:20::"))
        #expect(c.subnetLength == 80)
        #expect(c.subnetMin == ip6("fc00:0:0:10::"))
        #expect(c.subnetMax == ip6("fc00:0:0:20::"))
        #expect(c.fits(subnet6("fc00:0:0:10::/80")))
        #expect(c.fits(subnet6("fc00:0:0:20::/80")))
        #expect(!c.fits(subnet6("fc00:0:0:20:1::/80")))
        #expect(!c.fits(subnet6("fc00:0:0:10::/64")))
        #expect(!c.fits(subnet6("fc01:0:0:10::/80")))
        // The whole address space works without overflow.
        let all = try IPv6NetworkConfig(network: subnet6("::/0"), subnetLength: 2)
        #expect(all.subnetMin == ip6("4000::"))
        #expect(all.subnetMax == ip6("c000::"))
    }

    @Test(arguments: [
        (subnet6("fc00::/123"), 0, nil, nil, "IPv6Network", "must be a /122 or larger (got /123)"),
        (subnet6("fc00::/48"), 49, nil, nil, "IPv6SubnetLen", "at least the IPv6Network prefix + 2 (50)"),
        (subnet6("fc00::/48"), 125, nil, nil, "IPv6SubnetLen", "at most 124 (got 125)"),
        (subnet6("fc00::/48"), 0, "fc01::", nil, "IPv6SubnetMin", "must be inside IPv6Network fc00::/48"),
        (subnet6("fc00::/48"), 0, "fc00:0:0:1::1", nil, "IPv6SubnetMin",
         "must be the start of a /64 subnet (IPv6SubnetLen) (got fc00:0:0:1::1; the nearest below is fc00:0:0:1::)"),
        (subnet6("fc00::/48"), 0, nil, "fc00:1::", "IPv6SubnetMax", "must be inside IPv6Network"),
        (subnet6("fc00::/48"), 0, nil, "fc00:0:0:2:8000::", "IPv6SubnetMax", "must be the start of a /64 subnet"),
        (subnet6("fc00::/48"), 0, "fc00:0:0:9::", "fc00:0:0:8::", "IPv6SubnetMax",
         "must not be below IPv6SubnetMin fc00:0:0:9::"),
    ] as [(IPv6Subnet, Int, String?, String?, String, String)])
    func refusalNamesFieldAndRule(network: IPv6Subnet, length: Int, min: String?, max: String?, field: String,
                                  rule: String) {
        do {
            let c = try IPv6NetworkConfig(network: network, subnetLength: length, subnetMin: min.map(ip6),
                                          subnetMax: max.map(ip6))
            Issue.record("accepted \(c)")
        } catch {
            #expect(error.field == field)
            #expect(error.rule.contains(rule), "rule was: \(error.rule)")
        }
    }
}
