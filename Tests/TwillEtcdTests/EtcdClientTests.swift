import Foundation
import Synchronization
import Testing
import TwillControl
@testable import TwillEtcd

@Suite struct EtcdClientTests {
    @Test func endpointsAreNormalized() throws {
        #expect(try EtcdClient.normalize(["http://a:2379/", " b:2379 ", "https://c:2379,http://d:2379"], tls: false)
            == ["http://a:2379", "http://b:2379", "https://c:2379", "http://d:2379"])
        #expect(try EtcdClient.normalize(["b:2379"], tls: true) == ["https://b:2379"])
        #expect(throws: LeaseStoreError.self) { try EtcdClient.normalize([], tls: false) }
        #expect(throws: LeaseStoreError.self) { try EtcdClient.normalize([" , "], tls: false) }
        #expect(throws: LeaseStoreError.self) { try EtcdClient.normalize(["ftp://a:2379"], tls: false) }
    }

    @Test func durationsBecomeTimeAmounts() {
        #expect(EtcdClient.timeAmount(.milliseconds(1500)) == .milliseconds(1500))
    }

    @Test func shutdownTwiceIsHarmless() async throws {
        let client = try EtcdClient(endpoints: ["http://127.0.0.1:1"], tls: nil, username: nil, password: nil,
                                    requestTimeout: .seconds(1), logger: quietLogger)
        try await client.shutdown()
        try await client.shutdown()
    }

    @Test(.enabled(if: etcdAvailable)) func failsOverFromADeadEndpointAndRemembersTheLiveOne() async throws {
        try await EtcdTestCluster.with { cluster in
            let dead = "http://127.0.0.1:\(freePort())"
            let capture = LogCapture()
            let client = try EtcdClient(endpoints: [dead, cluster.endpoints[0]], tls: nil, username: nil, password: nil,
                                        requestTimeout: .seconds(2), logger: capture.logger)
            do {
                let reply = try await client.call("/v3/kv/range", EtcdRequest.range(key: Array("x".utf8)))
                #expect(reply.revision >= 1)
                #expect(capture.count(containing: "using etcd endpoint \(cluster.endpoints[0])") == 1)
                // The live endpoint is tried first from now on: no more failures against the dead one.
                let failuresBefore = capture.count(containing: "etcd endpoint failed")
                _ = try await client.call("/v3/kv/range", EtcdRequest.range(key: Array("x".utf8)))
                #expect(capture.count(containing: "etcd endpoint failed") == failuresBefore)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    @Test(.enabled(if: etcdAvailable)) func aNonEtcdServerIsABadReply() async throws {
        try await EtcdTestCluster.with { cluster in
            // The peer port speaks HTTP but not the v3 gateway.
            let client = try EtcdClient(endpoints: [cluster.members[0].peerURL], tls: nil, username: nil,
                                        password: nil, requestTimeout: .seconds(2), logger: quietLogger)
            let error = await #expect(throws: EtcdError.self) {
                try await client.call("/v3/kv/range", EtcdRequest.range(key: Array("x".utf8)))
            }
            if case .badReply(let endpoint, let reason)? = error {
                #expect(endpoint == cluster.members[0].peerURL)
                #expect(reason.contains("404"))
            } else {
                Issue.record("expected badReply, got \(String(describing: error))")
            }
            try await client.shutdown()
        }
    }

    @Test(.enabled(if: etcdAvailable)) func watchStreamsEventsUntilCanceled() async throws {
        try await EtcdTestCluster.with { cluster in
            let client = try EtcdClient(endpoints: cluster.endpoints, tls: nil, username: nil, password: nil,
                                        requestTimeout: .seconds(2), logger: quietLogger)
            let seen = Mutex<[EtcdWatchMessage]>([])
            let prefix = Array("/w/".utf8)
            let request = EtcdRequest.watch(key: prefix, rangeEnd: EtcdKey.rangeEnd(forPrefix: prefix),
                                            startRevision: 1)
            let watching = Task {
                try await client.watch(request) { message in seen.withLock { $0.append(message) } }
            }
            #expect(await eventually { seen.withLock { $0.first?.created == true } })
            try await cluster.etcdctl(["put", "/w/a", "1"])
            try await cluster.etcdctl(["del", "/w/a"])
            #expect(await eventually { seen.withLock { $0.flatMap(\.events).count } == 2 })
            let events = seen.withLock { $0.flatMap(\.events) }
            #expect(events.map(\.isDelete) == [false, true])
            #expect(events.first?.kv.value == Array("1".utf8))
            watching.cancel()
            let outcome = await watching.result
            #expect(throws: (any Error).self) { try outcome.get() }
            try await client.shutdown()
        }
    }

    @Test(.enabled(if: etcdAvailable)) func credentialsForAClusterWithoutAuthAreHarmless() async throws {
        try await EtcdTestCluster.with { cluster in
            let capture = LogCapture()
            let client = try EtcdClient(endpoints: cluster.endpoints, tls: nil, username: "root", password: "x",
                                        requestTimeout: .seconds(2), logger: capture.logger)
            _ = try await client.call("/v3/kv/range", EtcdRequest.range(key: Array("x".utf8)))
            _ = try await client.call("/v3/kv/range", EtcdRequest.range(key: Array("x".utf8)))
            #expect(capture.count(containing: "authentication is not enabled") == 1)
            try await client.shutdown()
        }
    }
}
