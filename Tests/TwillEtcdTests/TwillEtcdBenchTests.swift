import TwillTestSupport
import Foundation
import Testing

/// The benchmark executable (Sources/twill-etcd-bench/main.swift), run small against a real etcd.
@Suite(.enabled(if: etcdAvailable && FileManager.default.isExecutableFile(atPath: binaryPath("twill-etcd-bench"))))
struct TwillEtcdBenchTests {
    @Test func twentyNodesWithoutDuplicates() async throws {
        try await EtcdTestCluster.with { cluster in
            let result = await run(binaryPath("twill-etcd-bench"),
                                   ["--endpoints", cluster.endpoints.joined(separator: ","), "--nodes", "20",
                                    "--network", "10.20.0.0/23", "--subnet-len", "28", "--ttl", "30"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("acquired 20 of 20 leases"))
            #expect(result.output.contains("listed 20 leases (20 distinct subnets); duplicates: 0"))
        }
    }

    @Test func moreNodesThanSubnetsExit2WithoutDuplicates() async throws {
        try await EtcdTestCluster.with { cluster in
            // A /24 in /28s has 15 leasable subnets for 20 nodes.
            let result = await run(binaryPath("twill-etcd-bench"),
                                   ["--endpoints", cluster.endpoints.joined(separator: ","), "--nodes", "20",
                                    "--network", "10.20.0.0/24", "--subnet-len", "28", "--ttl", "30"])
            #expect(result.status == 2, "\(result.output)")
            #expect(result.output.contains("acquired 15 of 20 leases"))
            #expect(result.output.contains("failed: 5 × no free subnet"))
            #expect(result.output.contains("duplicates: 0"))
        }
    }

    @Test func usageErrorsExit64() async {
        let result = await run(binaryPath("twill-etcd-bench"), ["--nodes"])
        #expect(result.status == 64)
        #expect(result.output.contains("usage: twill-etcd-bench"))
    }
}
