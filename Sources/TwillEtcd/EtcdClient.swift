import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import TwillControl

/// etcd's v3 JSON gateway over HTTP(S): failover across endpoints, token authentication, and the
/// newline-delimited watch stream. It knows nothing of leases; EtcdLeaseStore builds on it.
final class EtcdClient: Sendable {
    let endpoints: [String]
    let requestTimeout: Duration
    private let http: HTTPClient
    private let username: String?
    private let password: String
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        /// The endpoint that answered last: tried first, so a dead member costs one failed connect
        /// only until another one answers.
        var preferred = 0
        var token: String?
        /// etcd said authentication is off: send no token until it says otherwise.
        var authDisabled = false
        var shutDown = false
    }

    /// Replies bigger than this are refused rather than buffered; a range over 100,000 leases is ~20 MB.
    static let maximumReplyBytes = 64 << 20

    init(endpoints: [String], tls: EtcdTLS?, username: String?, password: String?, requestTimeout: Duration,
         logger: Logger) throws(LeaseStoreError) {
        let normalized = try EtcdClient.normalize(endpoints, tls: tls != nil)
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: try tls?.makeConfiguration(), redirectConfiguration: .disallow,
            timeout: .init(connect: EtcdClient.timeAmount(requestTimeout), read: nil))
        // Without this a refused connect is retried until the request's deadline, which would make
        // every failover to the next endpoint wait out the full request timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        // The gateway's streaming watch is plain chunked HTTP/1.1; HTTP/2 would buy nothing here.
        configuration.httpVersion = .http1Only
        self.endpoints = normalized
        self.requestTimeout = requestTimeout
        self.username = username
        self.password = password ?? ""
        self.logger = logger
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    deinit {
        // A forgotten shutdown() must not crash the process (HTTPClient traps on that in debug builds).
        if !state.withLock({ $0.shutDown }) { http.shutdown().whenComplete { _ in } }
    }

    func shutdown() async throws {
        let first = state.withLock { state in
            defer { state.shutDown = true }
            return !state.shutDown
        }
        if first { try await http.shutdown() }
    }

    /// "host:port" gets a scheme (https with TLS files, else http); trailing slashes go.
    static func normalize(_ endpoints: [String], tls: Bool) throws(LeaseStoreError) -> [String] {
        let result = endpoints.flatMap { $0.split(separator: ",") }.map { raw -> String in
            var text = raw.trimmingCharacters(in: .whitespaces)
            while text.hasSuffix("/") { text.removeLast() }
            if !text.contains("://") { text = (tls ? "https://" : "http://") + text }
            return text
        }.filter { !$0.isEmpty }
        guard !result.isEmpty else {
            throw .io(path: "etcd endpoints", reason: "none given; pass etcd's client URLs, such as "
                + "http://127.0.0.1:2379")
        }
        for endpoint in result {
            guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty else {
                throw .io(path: "etcd endpoint \(endpoint)", reason: "is not an http:// or https:// URL such as "
                    + "http://127.0.0.1:2379")
            }
        }
        return result
    }

    /// A unary request (range, txn, lease...), on the preferred endpoint, then on each other one
    /// that cannot be reached or cannot serve. Throws EtcdError, or CancellationError.
    func call(_ path: String, _ body: Data) async throws -> EtcdReply {
        var failures: [String] = []
        for index in rotation() {
            try Task.checkCancellation()
            let endpoint = endpoints[index]
            do {
                let bytes = try await authenticatedExchange(endpoint: endpoint, path: path, body: body)
                prefer(index)
                do {
                    return try JSONDecoder().decode(EtcdReply.self, from: Data(bytes))
                } catch {
                    throw EtcdError.badReply(endpoint: endpoint, reason: "\(path) reply is not etcd's JSON: \(error)")
                }
            } catch let failure as EtcdTransportFailure {
                failures.append("\(endpoint): \(failure.reason)")
                logger.debug("etcd endpoint failed",
                             metadata: ["endpoint": "\(endpoint)", "error": "\(failure.reason)"])
            } catch let error as EtcdError where error.isMemberUnavailable {
                failures.append("\(endpoint): \(error)")
            }
        }
        throw EtcdError.unreachable(endpoints: endpoints, failures: failures)
    }

    /// Opens a watch (POST /v3/watch) with failover and hands each message to `onMessage` until the
    /// stream ends (returns) or breaks (throws). Errors from `onMessage` end the watch.
    func watch(_ body: Data, onMessage: (EtcdWatchMessage) async throws -> Void) async throws {
        var failures: [String] = []
        for index in rotation() {
            try Task.checkCancellation()
            let endpoint = endpoints[index]
            let response: HTTPClientResponse
            do {
                response = try await openStream(endpoint: endpoint, body: body)
            } catch let failure as EtcdTransportFailure {
                failures.append("\(endpoint): \(failure.reason)")
                continue
            } catch let error as EtcdError where error.isMemberUnavailable {
                failures.append("\(endpoint): \(error)")
                continue
            }
            prefer(index)
            var pending: [UInt8] = []
            do {
                for try await chunk in response.body {
                    pending.append(contentsOf: chunk.readableBytesView)
                    // The gateway ends every message with a newline.
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = Array(pending[..<newline])
                        pending.removeSubrange(...newline)
                        if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                        let message: EtcdWatchMessage
                        do {
                            message = try JSONDecoder().decode(EtcdWatchMessage.self, from: Data(line))
                        } catch {
                            throw EtcdError.badReply(endpoint: endpoint, reason: "watch message is not etcd's JSON: "
                                + String(decoding: line.prefix(200), as: UTF8.self))
                        }
                        try await onMessage(message)
                    }
                    guard pending.count <= EtcdClient.maximumReplyBytes else {
                        throw EtcdError.badReply(endpoint: endpoint, reason: "a watch message exceeds "
                            + "\(EtcdClient.maximumReplyBytes) bytes")
                    }
                }
            } catch let error as EtcdError {
                throw error
            } catch let error as EtcdTransportFailure {
                throw error
            } catch {
                try Task.checkCancellation()
                if error is CancellationError { throw error }
                throw EtcdTransportFailure(reason: "the watch stream from \(endpoint) broke: "
                    + EtcdClient.describe(error, timeout: requestTimeout))
            }
            return
        }
        throw EtcdError.unreachable(endpoints: endpoints, failures: failures)
    }

    /// Drops the token, e.g. after a watch was canceled for an invalid one.
    func forgetToken() { state.withLock { $0.token = nil } }

    private func openStream(endpoint: String, body: Data) async throws -> HTTPClientResponse {
        let token = try await currentToken(endpoint: endpoint)
        var response = try await send(endpoint: endpoint, path: "/v3/watch", body: body, token: token,
                                      deadline: .distantFuture)
        if response.status != .ok {
            var error = try await errorReply(response, endpoint: endpoint)
            if error.needsAuthentication && username != nil {
                let fresh = try await authenticate(endpoint: endpoint)
                response = try await send(endpoint: endpoint, path: "/v3/watch", body: body, token: fresh,
                                          deadline: .distantFuture)
                guard response.status != .ok else { return response }
                error = try await errorReply(response, endpoint: endpoint)
            }
            throw error
        }
        return response
    }

    /// One endpoint: authenticates first when needed, and again once when etcd rejects the token.
    private func authenticatedExchange(endpoint: String, path: String, body: Data) async throws -> [UInt8] {
        let token = try await currentToken(endpoint: endpoint)
        let (status, bytes) = try await exchange(endpoint: endpoint, path: path, body: body, token: token)
        if status == 200 { return bytes }
        let error = EtcdError.fromReply(status: status, body: bytes, endpoint: endpoint)
        guard error.needsAuthentication, username != nil else { throw error }
        let fresh = try await authenticate(endpoint: endpoint)
        let (retryStatus, retryBytes) = try await exchange(endpoint: endpoint, path: path, body: body, token: fresh)
        guard retryStatus == 200 else {
            throw EtcdError.fromReply(status: retryStatus, body: retryBytes, endpoint: endpoint)
        }
        return retryBytes
    }

    private func currentToken(endpoint: String) async throws -> String? {
        guard username != nil else { return nil }
        let (token, disabled) = state.withLock { ($0.token, $0.authDisabled) }
        if disabled { return nil }
        if let token { return token }
        return try await authenticate(endpoint: endpoint)
    }

    /// POST /v3/auth/authenticate; the token is kept for every later request.
    private func authenticate(endpoint: String) async throws -> String? {
        guard let username else { return nil }
        let body = EtcdRequest.authenticate(name: username, password: password)
        let (status, bytes) = try await exchange(endpoint: endpoint, path: "/v3/auth/authenticate", body: body,
                                                 token: nil)
        guard status == 200 else {
            let error = EtcdError.fromReply(status: status, body: bytes, endpoint: endpoint)
            if case .server(_, EtcdError.failedPrecondition, let message) = error,
               message.contains("authentication is not enabled") {
                // As etcd's own client does: credentials for a cluster without auth are not an error.
                logger.notice("etcd authentication is not enabled; sending requests without a token",
                              metadata: ["endpoint": "\(endpoint)"])
                state.withLock { $0.authDisabled = true }
                return nil
            }
            throw error
        }
        guard let reply = try? JSONDecoder().decode(EtcdReply.self, from: Data(bytes)), let token = reply.token else {
            throw EtcdError.badReply(endpoint: endpoint, reason: "the authenticate reply has no token")
        }
        state.withLock {
            $0.token = token
            $0.authDisabled = false
        }
        logger.debug("authenticated to etcd", metadata: ["endpoint": "\(endpoint)", "user": "\(username)"])
        return token
    }

    /// One HTTP exchange with a whole reply; transport failures become EtcdTransportFailure.
    private func exchange(endpoint: String, path: String, body: Data,
                          token: String?) async throws -> (status: Int, body: [UInt8]) {
        let deadline = NIODeadline.now() + EtcdClient.timeAmount(requestTimeout)
        let response = try await send(endpoint: endpoint, path: path, body: body, token: token, deadline: deadline)
        do {
            let buffer = try await response.body.collect(upTo: EtcdClient.maximumReplyBytes)
            return (Int(response.status.code), Array(buffer.readableBytesView))
        } catch {
            try Task.checkCancellation()
            throw EtcdTransportFailure(reason: EtcdClient.describe(error, timeout: requestTimeout))
        }
    }

    private func send(endpoint: String, path: String, body: Data, token: String?,
                      deadline: NIODeadline) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: token) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            return try await http.execute(request, deadline: deadline)
        } catch {
            try Task.checkCancellation()
            throw EtcdTransportFailure(reason: EtcdClient.describe(error, timeout: requestTimeout))
        }
    }

    private func errorReply(_ response: HTTPClientResponse, endpoint: String) async throws -> EtcdError {
        let bytes: [UInt8]
        do {
            bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        } catch {
            bytes = []
        }
        return EtcdError.fromReply(status: Int(response.status.code), body: bytes, endpoint: endpoint)
    }

    private func rotation() -> [Int] {
        let start = state.withLock { $0.preferred }
        return (0..<endpoints.count).map { (start + $0) % endpoints.count }
    }

    private func prefer(_ index: Int) {
        let changed = state.withLock { state in
            defer { state.preferred = index }
            return state.preferred != index
        }
        if changed { logger.info("using etcd endpoint \(endpoints[index])") }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Short, operator-readable reasons for the usual connection failures.
    static func describe(_ error: any Error, timeout: Duration) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return "no reply within \(timeout)"
            case .connectTimeout: return "connect timed out after \(timeout)"
            case .remoteConnectionClosed: return "the connection was closed"
            case .tlsHandshakeTimeout: return "the TLS handshake timed out"
            default: return "\(error)"
            }
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            let text = "\(error)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS handshake failed: etcd's certificate does not verify against the trusted CA "
                    + "(CERTIFICATE_VERIFY_FAILED; check the CA file)"
            }
            if text.contains("failedToValidateHostname") {
                return "TLS handshake failed: etcd's certificate does not name the endpoint's host (\(text))"
            }
            return "TLS failed: \(text)"
        }
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}
