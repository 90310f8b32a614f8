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
}
