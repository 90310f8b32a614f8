import Foundation
import Testing
import TwillControl
import TwillWire

@Suite struct NetworkConfigTests {
    // MARK: flannel's examples

    @Test func kubernetesManifestExample() throws {
        let c = try config(#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#)
        #expect(c.network == subnet("10.244.0.0/16"))
        #expect(c.subnetLength == 24)
        #expect(c.subnetMin == ip("10.244.1.0"))
        #expect(c.subnetMax == ip("10.244.255.0"))
        #expect(c.backend == BackendConfig(format: .vxlan, port: 8472, vni: 1, mtu: nil))
    }

    @Test func udpExampleWithExplicitRange() throws {
        let json = #"{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.99.0.0","Backend":{"Type":"udp","Port":7890}}"#
        let c = try config(json)
        #expect(c.network == subnet("10.0.0.0/8"))
        #expect(c.subnetLength == 20)
        #expect(c.subnetMin == ip("10.10.0.0"))
        #expect(c.subnetMax == ip("10.99.0.0"))
        #expect(c.backend.format == .udp)
        #expect(c.backend.port == 7890)
        #expect(c.backend.mtu == nil)
        // Writing it back gives flannel's example byte for byte.
        #expect(c.jsonString == json)
    }

    // MARK: defaults

    @Test func missingBackendMeansVXLAN() throws {
        let c = try config(#"{"Network":"10.5.0.0/16"}"#)
        #expect(c.backend.format == .vxlan)
        #expect(c.backend.port == 8472)
        #expect(c.backend.vni == 1)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":null}"#).backend.format == .vxlan)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{}}"#).backend.format == .vxlan)
    }

    @Test func udpDefaultPort() throws {
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"udp"}}"#).backend.port == 8285)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"udp","Port":0}}"#).backend.port == 8285)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","Port":0}}"#).backend.port == 8472)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","Port":4789}}"#).backend.port == 4789)
    }

    @Test(arguments: [
        ("10.0.0.0/8", 24), ("10.5.0.0/16", 24), ("10.5.0.0/22", 24), ("10.5.0.0/23", 25),
        ("10.5.0.0/24", 26), ("10.5.0.0/26", 28), ("10.5.0.0/28", 30), ("0.0.0.0/0", 24),
    ])
    func defaultSubnetLength(network: String, expected: Int) throws {
        #expect(try config(#"{"Network":"\#(network)"}"#).subnetLength == expected)
    }

    @Test func defaultRangeSkipsTheFirstSubnetAndEndsAtTheLast() throws {
        let c = try config(#"{"Network":"10.5.0.0/16"}"#)
        #expect(c.subnetMin == ip("10.5.1.0"))
        #expect(c.subnetMax == ip("10.5.255.0"))
        let small = try config(#"{"Network":"192.168.7.0/28"}"#)
        #expect(small.subnetLength == 30)
        #expect(small.subnetMin == ip("192.168.7.4"))
        #expect(small.subnetMax == ip("192.168.7.12"))
        let top = try config(#"{"Network":"255.255.0.0/16","SubnetLen":20}"#)
        #expect(top.subnetMin == ip("255.255.16.0"))
        #expect(top.subnetMax == ip("255.255.240.0"))
    }

    @Test func zeroAddressBoundsMeanDefault() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","SubnetMin":"0.0.0.0","SubnetMax":"0.0.0.0"}"#)
        #expect(c.subnetMin == ip("10.5.1.0"))
        #expect(c.subnetMax == ip("10.5.255.0"))
    }

    @Test func explicitBoundsMayIncludeTheFirstSubnet() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","SubnetMin":"10.5.0.0","SubnetMax":"10.5.0.0"}"#)
        #expect(c.subnetMin == ip("10.5.0.0"))
        #expect(c.subnetMax == ip("10.5.0.0"))
    }

    @Test func explicitSubnetLengthLimits() throws {
        #expect(try config(#"{"Network":"10.5.0.0/16","SubnetLen":18}"#).subnetLength == 18)
        #expect(try config(#"{"Network":"10.5.0.0/16","SubnetLen":30}"#).subnetLength == 30)
        #expect(try config(#"{"Network":"10.5.0.0/16","SubnetLen":0}"#).subnetLength == 24)
    }

    @Test func hostBitsInNetworkAreClearedAsFlannelDoes() throws {
        #expect(try config(#"{"Network":"10.5.1.7/16"}"#).network == subnet("10.5.0.0/16"))
    }

    @Test func keysMatchCaseInsensitivelyAsInGo() throws {
        let c = try config(#"{"network":"10.5.0.0/16","subnetlen":20,"BACKEND":{"type":"UDP","port":9000}}"#)
        #expect(c.network == subnet("10.5.0.0/16"))
        #expect(c.subnetLength == 20)
        #expect(c.backend.format == .udp)
        #expect(c.backend.port == 9000)
    }

    @Test func unknownFieldsAndNullsAreIgnored() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","Whatever":[1,{"x":2}],"SubnetLen":null,"SubnetMin":null,"Backend":{"Type":"vxlan","GBP":true,"DirectRouting":false,"Learning":1}}"#)
        #expect(c == (try config(#"{"Network":"10.5.0.0/16"}"#)))
    }

    @Test func vniAndMTU() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":4096,"MTU":1400}}"#)
        #expect(c.backend.vni == 4096)
        #expect(c.backend.mtu == 1400)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"VNI":0}}"#).backend.vni == 0)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"VNI":16777215}}"#).backend.vni == 16_777_215)
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"MTU":0}}"#).backend.mtu == nil)
        // The udp backend has no VNI; flannel ignores one there.
        #expect(try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"udp","VNI":99999999}}"#).backend.vni == 1)
    }

    @Test func ipFamilyFlags() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","EnableIPv4":true,"EnableIPv6":false,"IPv6Network":"fc00::/48","IPv6SubnetLen":64,"IPv6SubnetMin":"fc00:0:0:1::","IPv6SubnetMax":"fc00:0:0:ff::"}"#)
        #expect(c.network == subnet("10.5.0.0/16"))
        // IPv6 off: the fields are checked but unused.
        #expect(c.ipv6 == nil)
        #expect(c == (try config(#"{"Network":"10.5.0.0/16"}"#)))
    }

    // MARK: Dual stack

    @Test func dualStackDefaults() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}"#)
        let v6 = try #require(c.ipv6)
        #expect(v6 == (try IPv6NetworkConfig(network: subnet6("fc00::/48"))))
        #expect(v6.subnetLength == 64)
        #expect(v6.subnetMin == ip6("fc00:0:0:1::"))
        #expect(v6.subnetMax == ip6("fc00:0:0:ffff::"))
        #expect(c.subnetLength == 24)
        // Stray host bits are cleared, as for Network; null fields count as absent.
        let loose = try config(#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::1/48","IPv6SubnetLen":null,"IPv6SubnetMin":null}"#)
        #expect(loose.ipv6 == v6)
    }

    @Test func dualStackExplicitFields() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":80,"IPv6SubnetMin":"fc00:0:0:1::","IPv6SubnetMax":"fc00:0:0:ff::"}"#)
        #expect(c.ipv6?.subnetLength == 80)
        #expect(c.ipv6?.subnetMin == ip6("fc00:0:0:1::"))
        #expect(c.ipv6?.subnetMax == ip6("fc00:0:0:ff::"))
        #expect(c.fits(subnet("10.5.1.0/24"), v6: subnet6("fc00:0:0:1::/80")))
        #expect(!c.fits(subnet("10.5.1.0/24"), v6: nil))
        #expect(!c.fits(subnet("10.5.1.0/24"), v6: subnet6("fc00:0:0:1::/64")))
        #expect(!c.fits(subnet("10.5.0.0/24"), v6: subnet6("fc00:0:0:1::/80")))
        // Without IPv6 any IPv6 half is ignored.
        let v4 = try config(#"{"Network":"10.5.0.0/16"}"#)
        #expect(v4.fits(subnet("10.5.1.0/24"), v6: nil))
        #expect(v4.fits(subnet("10.5.1.0/24"), v6: subnet6("fc00::/64")))
    }

    @Test func dualStackJSONRoundTrips() throws {
        let c = try config(#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":56}"#)
        #expect(c.jsonString == #"{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.255.0","#
            + #""EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":56,"IPv6SubnetMin":"fc00:0:0:100::","#
            + #""IPv6SubnetMax":"fc00:0:0:ff00::","Backend":{"Type":"vxlan","Port":8472,"VNI":1}}"#)
        #expect(try NetworkConfig(jsonString: c.jsonString) == c)
    }

    @Test func memberwiseInitTakesTheIPv6Half() throws {
        let v6 = try IPv6NetworkConfig(network: subnet6("fc00::/48"))
        let c = try NetworkConfig(network: subnet("10.5.0.0/16"), ipv6: v6)
        #expect(c.ipv6 == v6)
        #expect(try NetworkConfig(network: subnet("10.5.0.0/16")).ipv6 == nil)
    }

    // MARK: MTU

    @Test func mtuFollowsTheEncapsulationOverhead() throws {
        let vxlan = try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}"#)
        #expect(vxlan.mtu(underlayMTU: 1500) == 1450)
        #expect(vxlan.mtu(underlayMTU: 9000) == 8950)
        #expect(vxlan.mtu(underlayMTU: 1500, ipv6Underlay: true) == 1430)
        let udp = try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"udp"}}"#)
        #expect(udp.mtu(underlayMTU: 1500) == 1472)
        let fixed = try config(#"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","MTU":1300}}"#)
        #expect(fixed.mtu(underlayMTU: 1500) == 1300)
    }

    // MARK: writing back

    @Test(arguments: [
        #"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#,
        #"{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.99.0.0","Backend":{"Type":"udp","Port":7890}}"#,
        #"{"Network":"172.16.0.0/12","SubnetLen":26,"Backend":{"Type":"vxlan","VNI":7,"Port":4789,"MTU":1400}}"#,
        #"{"Network":"192.168.7.0/28"}"#,
    ])
    func jsonStringRoundTrips(json: String) throws {
        let c = try config(json)
        #expect(try config(c.jsonString) == c)
        #expect(try NetworkConfig(json: Data(c.jsonString.utf8)) == c)
        #expect(try NetworkConfig.parse(Data(c.jsonString.utf8)) == c)
    }

    @Test func jsonStringWritesEveryValue() throws {
        let c = try config(#"{"Network":"10.244.0.0/16","Backend":{"MTU":1400}}"#)
        #expect(c.jsonString
            == #"{"Network":"10.244.0.0/16","SubnetLen":24,"SubnetMin":"10.244.1.0","SubnetMax":"10.244.255.0","Backend":{"Type":"vxlan","Port":8472,"VNI":1,"MTU":1400}}"#)
    }

    // MARK: helpers

    @Test func fitsChecksNetworkLengthAndRange() throws {
        let c = try config(#"{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.99.0.0"}"#)
        #expect(c.fits(subnet("10.10.0.0/20")))
        #expect(c.fits(subnet("10.99.0.0/20")))
        #expect(!c.fits(subnet("10.99.16.0/20")))
        #expect(!c.fits(subnet("10.9.240.0/20")))
        #expect(!c.fits(subnet("10.10.0.0/24")))
        #expect(!c.fits(subnet("11.10.0.0/20")))
        #expect(c.subnetSize == 4096)
    }

    @Test func programmaticInitAppliesTheSameRules() throws {
        let c = try NetworkConfig(network: subnet("10.5.0.0/16"))
        #expect(c == (try config(#"{"Network":"10.5.0.0/16"}"#)))
        #expect(throws: ConfigError.self) { try NetworkConfig(network: subnet("10.5.0.0/16"), subnetLength: 17) }
        #expect(throws: ConfigError.self) {
            try NetworkConfig(network: subnet("10.5.0.0/16"), backend: BackendConfig(vni: 1 << 24))
        }
    }

    // MARK: every refusal names its field

    @Test(arguments: [
        (#"{"Network":"#, "JSON", "is malformed"),
        ("", "JSON", "is malformed"),
        (#"["Network"]"#, "JSON", "must be an object"),
        ("null", "JSON", "must be an object"),
        ("{}", "Network", "is required"),
        (#"{"Network":null}"#, "Network", "is required"),
        (#"{"Network":5}"#, "Network", "must be a string"),
        (#"{"Network":"10.5.0.0"}"#, "Network", "must be an IPv4 CIDR"),
        (#"{"Network":"10.5.0.0/33"}"#, "Network", "must be an IPv4 CIDR"),
        (#"{"Network":"fc00::/64"}"#, "Network", "must be an IPv4 CIDR"),
        (#"{"Network":"10.5.0.0/29"}"#, "Network", "must be a /28 or larger"),
        (#"{"Network":"10.5.0.0/32","SubnetLen":30}"#, "Network", "must be a /28 or larger"),
        (#"{"Network":"10.5.0.0/16","SubnetLen":17}"#, "SubnetLen",
         "must be at least the Network prefix + 2 (18) and at most 30"),
        (#"{"Network":"10.5.0.0/16","SubnetLen":31}"#, "SubnetLen",
         "must be at least the Network prefix + 2 (18) and at most 30"),
        (#"{"Network":"10.5.0.0/16","SubnetLen":-1}"#, "SubnetLen", "must be at least the Network prefix + 2"),
        (#"{"Network":"10.5.0.0/16","SubnetLen":"24"}"#, "SubnetLen", "must be a whole number"),
        (#"{"Network":"10.5.0.0/16","SubnetLen":24.0}"#, "SubnetLen", "must be a whole number (got 24.0)"),
        (#"{"Network":"10.5.0.0/16","SubnetMin":"10.6.0.0"}"#, "SubnetMin", "must be inside Network 10.5.0.0/16"),
        (#"{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.1"}"#, "SubnetMin", "must be the start of a /24 subnet"),
        (#"{"Network":"10.5.0.0/16","SubnetMin":"ten"}"#, "SubnetMin", "must be an IPv4 address"),
        (#"{"Network":"10.5.0.0/16","SubnetMin":""}"#, "SubnetMin", "must be an IPv4 address"),
        (#"{"Network":"10.5.0.0/16","SubnetMin":7}"#, "SubnetMin", "must be a string"),
        (#"{"Network":"10.5.0.0/16","SubnetMax":"10.4.255.0"}"#, "SubnetMax", "must be inside Network"),
        (#"{"Network":"10.5.0.0/16","SubnetMax":"10.5.9.128"}"#, "SubnetMax", "must be the start of a /24 subnet"),
        (#"{"Network":"10.5.0.0/16","SubnetMin":"10.5.9.0","SubnetMax":"10.5.8.0"}"#, "SubnetMax",
         "must not be below SubnetMin 10.5.9.0"),
        (#"{"Network":"10.5.0.0/16","Backend":"vxlan"}"#, "Backend", "must be an object"),
        (#"{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}"#, "Backend.Type", #"must be "vxlan" or "udp""#),
        (#"{"Network":"10.5.0.0/16","Backend":{"Type":1}}"#, "Backend.Type", "must be a string"),
        (#"{"Network":"10.5.0.0/16","Backend":{"Port":65536}}"#, "Backend.Port", "must be a UDP port from 1 to 65535"),
        (#"{"Network":"10.5.0.0/16","Backend":{"Port":-1}}"#, "Backend.Port", "must be a UDP port"),
        (#"{"Network":"10.5.0.0/16","Backend":{"Port":"8472"}}"#, "Backend.Port", "must be a whole number"),
        (#"{"Network":"10.5.0.0/16","Backend":{"VNI":16777216}}"#, "Backend.VNI", "must be from 0 to 16777215"),
        (#"{"Network":"10.5.0.0/16","Backend":{"VNI":-1}}"#, "Backend.VNI", "must be from 0 to 16777215"),
        (#"{"Network":"10.5.0.0/16","Backend":{"VNI":true}}"#, "Backend.VNI", "must be a whole number"),
        (#"{"Network":"10.5.0.0/16","Backend":{"MTU":60}}"#, "Backend.MTU", "must be from 68 to 65535"),
        (#"{"Network":"10.5.0.0/16","Backend":{"MTU":70000}}"#, "Backend.MTU", "must be from 68 to 65535"),
        (#"{"Network":"10.5.0.0/16","EnableIPv4":false}"#, "EnableIPv4", "IPv4 is required"),
        (#"{"Network":"10.5.0.0/16","EnableIPv4":"yes"}"#, "EnableIPv4", "must be true or false"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true}"#, "IPv6Network",
         "is required when EnableIPv6 is true: an IPv6 CIDR such as fc00::/48"),
        (#"{"EnableIPv6":true,"IPv6Network":"fc00::/48"}"#, "Network", "is required"),
        (#"{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}"#, "EnableIPv4", "IPv4 is required"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/123"}"#, "IPv6Network",
         "must be a /122 or larger"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":49}"#, "IPv6SubnetLen",
         "must be at least the IPv6Network prefix + 2 (50)"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":126}"#, "IPv6SubnetLen",
         "at most 124"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"fd00::"}"#,
         "IPv6SubnetMin", "must be inside IPv6Network fc00::/48"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMax":"fc00:0:0:5::1"}"#,
         "IPv6SubnetMax", "must be the start of a /64 subnet"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"fc00:0:0:9::","IPv6SubnetMax":"fc00:0:0:8::"}"#,
         "IPv6SubnetMax", "must not be below IPv6SubnetMin"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/4x"}"#, "IPv6Network", "must be an IPv6 CIDR"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":7}"#, "IPv6Network", "must be a string"),
        (#"{"Network":"10.5.0.0/16","IPv6Network":"fc00::/+48"}"#, "IPv6Network", "must be an IPv6 CIDR"),
        (#"{"Network":"10.5.0.0/16","EnableIPv6":1}"#, "EnableIPv6", "must be true or false"),
        (#"{"Network":"10.5.0.0/16","IPv6Network":"fc00::"}"#, "IPv6Network", "must be an IPv6 CIDR"),
        (#"{"Network":"10.5.0.0/16","IPv6Network":"10.0.0.0/8"}"#, "IPv6Network", "must be an IPv6 CIDR"),
        (#"{"Network":"10.5.0.0/16","IPv6SubnetMin":"x"}"#, "IPv6SubnetMin", "must be an IPv6 address"),
        (#"{"Network":"10.5.0.0/16","IPv6SubnetMax":"x"}"#, "IPv6SubnetMax", "must be an IPv6 address"),
        (#"{"Network":"10.5.0.0/16","IPv6SubnetLen":-64}"#, "IPv6SubnetLen", "must be a whole number"),
    ])
    func refusalNamesFieldAndRule(json: String, field: String, rule: String) {
        do {
            let c = try NetworkConfig(jsonString: json)
            Issue.record("accepted \(json) as \(c)")
        } catch {
            #expect(error.field == field)
            #expect(error.rule.contains(rule), "rule was: \(error.rule)")
            #expect(error.description.contains(field) && error.description.contains(error.rule))
        }
    }

    @Test func brokenJSONSaysWhereItBroke() {
        #expect {
            try NetworkConfig(jsonString: "{\"Network\": \"10.5.0.0/16\",\n \"Backend\": {\"Type\": vxlan}}")
        } throws: { error in
            "\(error)".contains("line 2")
        }
    }

    @Test func invalidUTF8IsRefusedNotTrapped() {
        #expect(throws: ConfigError.self) { try NetworkConfig(json: Data([0x7b, 0xff, 0xfe])) }
    }
}
