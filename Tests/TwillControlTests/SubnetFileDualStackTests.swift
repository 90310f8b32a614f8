import Testing
import TwillControl
import TwillWire

@Suite struct SubnetFileDualStackTests {
    let dual = SubnetFile(network: subnet("10.5.0.0/16"), subnet: subnet("10.5.72.0/24"), mtu: 1450, ipMasq: false,
                          ipv6Network: subnet6("fc00::/48"), ipv6Subnet: subnet6("fc00:0:0:5::/64"))

    @Test func textHasTheIPv6LinesInFlannelsOrder() {
        #expect(dual.text == "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\n"
            + "FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:5::1/64\n"
            + "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
        #expect(dual.ipv6GatewayAddress == ip6("fc00:0:0:5::1"))
        // Without IPv6 the text is flannel's single-stack file, unchanged.
        let single = SubnetFile(network: subnet("10.5.0.0/16"), subnet: subnet("10.5.72.0/24"), mtu: 1450, ipMasq: false)
        #expect(single.text == "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
        #expect(single.ipv6Network == nil && single.ipv6Subnet == nil && single.ipv6GatewayAddress == nil)
    }

    @Test func parsesWhatItWrites() {
        #expect(SubnetFile.parse(dual.text) == dual)
        // flanneld's own file, quoted as a shell would accept it.
        let flannel = "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_IPV6_NETWORK=\"fc00::/48\"\n"
            + "FLANNEL_IPV6_SUBNET=fc00:0:0:5::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
        #expect(SubnetFile.parse(flannel) == dual)
    }

    @Test(arguments: [
        ("FLANNEL_IPV6_NETWORK=10.0.0.0/8\n", "FLANNEL_IPV6_NETWORK"),
        ("FLANNEL_IPV6_NETWORK=fc00::\n", "FLANNEL_IPV6_NETWORK"),
        ("FLANNEL_IPV6_SUBNET=fc00:0:0:5::1/129\n", "FLANNEL_IPV6_SUBNET"),
        ("FLANNEL_IPV6_SUBNET=\n", "FLANNEL_IPV6_SUBNET"),
    ])
    func invalidIPv6LinesNameTheVariable(line: String, name: String) {
        let text = "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\n" + line
            + "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
        #expect(SubnetFile.parse(text) == nil)
        do {
            _ = try SubnetFile.decode(text, path: "/run/flannel/subnet.env")
            Issue.record("accepted \(text)")
        } catch {
            guard case .variableInvalid(let variable, _, let rule) = error.kind else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(variable == name)
            #expect(rule.contains("must be an IPv6 CIDR"))
        }
    }
}
