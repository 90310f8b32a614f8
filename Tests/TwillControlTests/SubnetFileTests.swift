import Foundation
import Testing
import TwillControl
import TwillWire

@Suite struct SubnetFileTests {
    let sample = SubnetFile(network: subnet("10.5.0.0/16"), subnet: subnet("10.5.72.0/24"), mtu: 1450, ipMasq: false)

    @Test func textIsFlannelsExactFormat() {
        #expect(sample.text == "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
        let other = SubnetFile(network: subnet("10.0.0.0/8"), subnet: subnet("10.10.16.0/20"), mtu: 1472, ipMasq: true)
        #expect(other.text == "FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.10.16.1/20\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n")
        #expect(sample.gatewayAddress == ip("10.5.72.1"))
    }

    @Test func writeCreatesTheDirectoryAndReadsBack() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/run/flannel/subnet.env"
            try sample.write(to: path)
            #expect(String(decoding: readBytes(path) ?? [], as: UTF8.self) == sample.text)
            #expect(SubnetFile.read(path) == sample)
            // Rewriting replaces it whole.
            let changed = SubnetFile(network: sample.network, subnet: subnet("10.5.9.0/24"), mtu: 1400, ipMasq: true)
            try changed.write(to: path)
            #expect(SubnetFile.read(path) == changed)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/run/flannel") == ["subnet.env"])
        }
    }

    @Test func readToleratesExtraLinesCommentsQuotesAndCRLF() {
        let text = """
            # written by flanneld\r
            FLANNEL_NETWORK=10.5.0.0/16\r
            FLANNEL_SUBNET="10.5.72.1/24"\r
            FLANNEL_IPV6_NETWORK=fc00::/48\r
            FLANNEL_IPV6_SUBNET=fc00:0:0:48::1/64\r

              FLANNEL_MTU = 1450\r
            FLANNEL_IPMASQ=false\r
            SOMETHING_ELSE
            """
        var dual = sample
        dual.ipv6Network = subnet6("fc00::/48")
        dual.ipv6Subnet = subnet6("fc00:0:0:48::/64")
        #expect(SubnetFile.parse(text) == dual)
    }

    @Test(arguments: [
        "FLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
        "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
        "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_IPMASQ=false\n",
        "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\n",
        "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=big\nFLANNEL_IPMASQ=false\n",
        "FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=maybe\n",
        "FLANNEL_NETWORK=bogus\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
        "",
    ])
    func readRefusesIncompleteFiles(text: String) {
        #expect(SubnetFile.parse(text) == nil)
    }

    @Test func missingFileReadsAsNil() async throws {
        try await withTemporaryDirectory { dir throws in
            #expect(SubnetFile.read(dir + "/absent.env") == nil)
        }
    }

    @Test func writeFailureNamesThePath() async throws {
        try await withTemporaryDirectory { dir throws in
            try writeText("x", to: dir + "/file")
            #expect(throws: ControlFileError.self) { try sample.write(to: dir + "/file/subnet.env") }
        }
    }
}
