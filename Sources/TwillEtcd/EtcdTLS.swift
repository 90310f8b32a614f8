import NIOSSL
import TwillControl

/// The PEM files for HTTPS to etcd, as flanneld's --etcd-cafile, --etcd-certfile and --etcd-keyfile.
public struct EtcdTLS: Sendable, Equatable {
    /// The CA that signed etcd's server certificate; nil trusts the system's roots.
    public var caFile: String?
    /// The client certificate and its key, for etcd's --client-cert-auth; both or neither.
    public var certFile: String?
    public var keyFile: String?

    public init(caFile: String?, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }

    /// Loads the files now, so a wrong path or a broken PEM file stops the daemon at start with the
    /// file's name instead of failing every request later.
    func makeConfiguration() throws(LeaseStoreError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            let roots = try EtcdTLS.load(caFile, what: "CA certificate") { try NIOSSLCertificate.fromPEMFile($0) }
            guard !roots.isEmpty else {
                throw .io(path: caFile, reason: "the etcd CA file holds no PEM certificate")
            }
            configuration.trustRoots = .certificates(roots)
        }
        switch (certFile, keyFile) {
        case (nil, nil):
            break
        case (let certFile?, let keyFile?):
            let chain = try EtcdTLS.load(certFile, what: "client certificate") {
                try NIOSSLCertificate.fromPEMFile($0)
            }
            guard !chain.isEmpty else {
                throw .io(path: certFile, reason: "the etcd client certificate file holds no PEM certificate")
            }
            let key = try EtcdTLS.load(keyFile, what: "client key") {
                try NIOSSLPrivateKey(file: $0, format: .pem)
            }
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
        case (let certFile?, nil):
            throw .io(path: certFile, reason: "an etcd client certificate needs its key file too (--etcd-keyfile)")
        case (nil, let keyFile?):
            throw .io(path: keyFile, reason: "an etcd client key needs its certificate file too (--etcd-certfile)")
        }
        return configuration
    }

    private static func load<T>(_ path: String, what: String,
                                _ body: (String) throws -> T) throws(LeaseStoreError) -> T {
        do {
            return try body(path)
        } catch {
            throw .io(path: path, reason: "cannot load the etcd \(what) (PEM expected): \(error)")
        }
    }
}
