import Testing
import TwillControl
import TwillWire

@Suite struct MasqueradeRulesTests {
    let rules = MasqueradeRules(network: subnet("10.244.0.0/16"), subnet: subnet("10.244.3.0/24"))

    @Test func tableIsFlannelsRulesInOrder() {
        #expect(rules.tableBody == """
            table ip twill {
            \tchain postrouting {
            \t\ttype nat hook postrouting priority srcnat; policy accept;
            \t\tmeta mark & 0x4000 == 0x4000 return
            \t\tip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return
            \t\tip saddr != 10.244.0.0/16 ip daddr 10.244.3.0/24 return
            \t\tip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random
            \t\tip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t\tip saddr 10.244.0.0/16 accept
            \t\tip daddr 10.244.0.0/16 accept
            \t}
            }

            """)
    }

    @Test func networkAndSubnetComeFromTheLease() {
        let other = MasqueradeRules(network: subnet("10.0.0.0/8"), subnet: subnet("10.10.16.0/20"))
        let lines = other.tableBody.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("ip saddr != 10.0.0.0/8 ip daddr 10.10.16.0/20 return"))
        #expect(lines.contains("ip saddr 10.0.0.0/8 ip daddr != 224.0.0.0/4 masquerade fully-random"))
        #expect(lines.contains("ip daddr 10.0.0.0/8 accept"))
        #expect(!other.tableBody.contains("10.244."))
    }

    @Test func applyScriptReplacesTheTableInOneTransaction() {
        let lines = rules.applyScript.split(separator: "\n", omittingEmptySubsequences: false)
        // Creating an empty table first makes the delete succeed when none exists yet.
        #expect(lines[0] == "table ip twill {}")
        #expect(lines[1] == "delete table ip twill")
        #expect(lines.dropFirst(2).joined(separator: "\n") == rules.tableBody)
        #expect(rules.applyScript.components(separatedBy: "masquerade").count - 1 == 2)
    }

    @Test func listAndDeleteNameTheSameTable() {
        #expect(MasqueradeRules.listArguments == ["list", "table", "ip", "twill"])
        #expect(MasqueradeRules.deleteArguments == ["delete", "table", "ip", "twill"])
    }

    @Test func dualStackAddsTheSameRulesInAnIPv6Table() throws {
        let dual = MasqueradeRules(network: subnet("10.244.0.0/16"), subnet: subnet("10.244.3.0/24"),
                                   networkV6: IPv6Subnet("fd00:244::/48"), subnetV6: IPv6Subnet("fd00:244:0:3::/64"))
        #expect(dual.families == ["ip", "ip6"])
        #expect(dual.tableBody == rules.tableBody, "the IPv4 table does not change")
        #expect(try #require(dual.tableBodyV6) == """
            table ip6 twill {
            \tchain postrouting {
            \t\ttype nat hook postrouting priority srcnat; policy accept;
            \t\tmeta mark & 0x4000 == 0x4000 return
            \t\tip6 saddr fd00:244::/48 ip6 daddr fd00:244::/48 return
            \t\tip6 saddr != fd00:244::/48 ip6 daddr fd00:244:0:3::/64 return
            \t\tip6 saddr fd00:244::/48 ip6 daddr != ff00::/8 masquerade fully-random
            \t\tip6 saddr != fd00:244::/48 ip6 daddr fd00:244::/48 masquerade fully-random
            \t}
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t\tip6 saddr fd00:244::/48 accept
            \t\tip6 daddr fd00:244::/48 accept
            \t}
            }

            """)
        // Both tables are replaced in one transaction.
        let lines = dual.applyScript.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("delete table") } == ["delete table ip twill", "delete table ip6 twill"])
        #expect(dual.applyScript.components(separatedBy: "masquerade").count - 1 == 4)
        #expect(MasqueradeRules.listArguments(family: "ip6") == ["list", "table", "ip6", "twill"])
        #expect(MasqueradeRules.deleteArguments(family: "ip6") == ["delete", "table", "ip6", "twill"])
        #expect(rules.families == ["ip"] && rules.tableBodyV6 == nil)
    }
}
