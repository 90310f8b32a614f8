import Testing
import TwillControl

/// `SubnetFile.load` says why a file cannot be used (the CNI plugin reports it to the runtime).
@Suite struct SubnetFileErrorTests {
    func kind(_ text: String) -> SubnetFileError.Kind? {
        (#expect(throws: SubnetFileError.self) { try SubnetFile.decode(text, path: "/s") })?.kind
    }

    @Test func missingAndUnreadableFiles() async throws {
        try await withTemporaryDirectory { dir throws in
            #expect((#expect(throws: SubnetFileError.self) { try SubnetFile.load(dir + "/absent") })?.kind == .missing)
            // A directory where the file should be: it exists but cannot be read as one.
            let error = #expect(throws: SubnetFileError.self) { try SubnetFile.load(dir) }
            guard case .unreadable(let reason)? = error?.kind else { Issue.record("got \(String(describing: error))"); return }
            #expect(reason.contains("directory"))
            try writeText("FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
                          to: dir + "/ok.env")
            #expect(try SubnetFile.load(dir + "/ok.env")
                == SubnetFile(network: subnet("10.5.0.0/16"), subnet: subnet("10.5.72.0/24"), mtu: 1450, ipMasq: true))
        }
    }

    @Test func theFirstBadVariableIsNamed() {
        #expect(kind("") == .variableMissing("FLANNEL_NETWORK"))
        #expect(kind("FLANNEL_NETWORK=10.5.0.0/16\n") == .variableMissing("FLANNEL_SUBNET"))
        #expect(kind("FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=0\n")
            == .variableInvalid("FLANNEL_MTU", value: "0", rule: "must be a positive whole number"))
        #expect(kind("FLANNEL_NETWORK=fc00::/48\n")
            == .variableInvalid("FLANNEL_NETWORK", value: "fc00::/48", rule: "must be an IPv4 CIDR such as 10.5.0.0/16"))
        #expect(kind("FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=yes\n")
            == .variableInvalid("FLANNEL_IPMASQ", value: "yes", rule: "must be true or false"))
    }
}
