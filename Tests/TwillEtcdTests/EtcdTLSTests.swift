import Foundation
import Testing
import TwillControl
@testable import TwillEtcd

@Suite struct EtcdTLSTests {
    @Test func aMissingCAFileIsNamed() {
        let error = #expect(throws: LeaseStoreError.self) {
            try EtcdTLS(caFile: "/nonexistent/ca.pem").makeConfiguration()
        }
        guard case .io(let path, let reason)? = error else {
            Issue.record("expected io, got \(String(describing: error))")
            return
        }
        #expect(path == "/nonexistent/ca.pem")
        #expect(reason.contains("CA certificate"))
    }

    @Test func aCertificateNeedsItsKeyAndTheOtherWayRound() {
        #expect(throws: LeaseStoreError.io(path: "/c.pem", reason: "an etcd client certificate needs its key file too "
                                                + "(--etcd-keyfile)")) {
            try EtcdTLS(caFile: nil, certFile: "/c.pem").makeConfiguration()
        }
        #expect(throws: LeaseStoreError.io(path: "/k.pem", reason: "an etcd client key needs its certificate file too "
                                                + "(--etcd-certfile)")) {
            try EtcdTLS(caFile: nil, keyFile: "/k.pem").makeConfiguration()
        }
    }

    @Test func noFilesMeansTheSystemRoots() throws {
        let configuration = try EtcdTLS(caFile: nil).makeConfiguration()
        #expect(configuration.certificateChain.isEmpty)
        #expect(configuration.privateKey == nil)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
    func loadsOpensslMadeFiles() async throws {
        let dir = FileManager.default.temporaryDirectory.path + "/twill-etcd-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let certificates = try await TestCertificates(in: dir)
        let configuration = try EtcdTLS(caFile: certificates.caFile, certFile: certificates.clientCert,
                                        keyFile: certificates.clientKey).makeConfiguration()
        #expect(configuration.certificateChain.count == 1)
        #expect(configuration.privateKey != nil)
        // A key file where the CA should be is refused by name.
        #expect(throws: LeaseStoreError.self) {
            try EtcdTLS(caFile: certificates.clientKey).makeConfiguration()
        }
        // The store's initializer reports the same at start, before any request.
        #expect(throws: LeaseStoreError.self) {
            try EtcdLeaseStore(endpoints: ["https://127.0.0.1:2379"], tls: EtcdTLS(caFile: dir + "/missing.pem"),
                               logger: quietLogger)
        }
    }
}
