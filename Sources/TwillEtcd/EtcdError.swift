import Foundation
import TwillControl

/// What went wrong talking to etcd, before it is worded for operators as a LeaseStoreError.
enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No endpoint answered; `failures` says why, one entry per endpoint tried.
    case unreachable(endpoints: [String], failures: [String])
    /// etcd answered with an error (a gRPC status code and etcd's message).
    case server(endpoint: String, code: Int, message: String)
    /// The reply is not etcd's v3 JSON.
    case badReply(endpoint: String, reason: String)

    /// gRPC status codes etcd uses.
    static let invalidArgument = 3
    static let notFound = 5
    static let permissionDenied = 7
    static let failedPrecondition = 9
    static let outOfRange = 11
    static let unavailable = 14
    static let unauthenticated = 16

    /// etcd's error body: `{"error":"...","message":"...","code":5}`. Anything else (a proxy's HTML
    /// page, an etcd without the v3 gateway) becomes badReply with the HTTP status.
    static func fromReply(status: Int, body: [UInt8], endpoint: String) -> EtcdError {
        struct Body: Decodable {
            var message: String?
            var error: String?
            var code: Int?
        }
        if let parsed = try? JSONDecoder().decode(Body.self, from: Data(body)), let code = parsed.code {
            return .server(endpoint: endpoint, code: code, message: parsed.message ?? parsed.error ?? "no message")
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return .badReply(endpoint: endpoint, reason: "HTTP status \(status)" + (text.isEmpty ? "" : ": \(text)"))
    }

    /// The token is missing, expired or unknown to this member: authenticating again fixes it.
    var needsAuthentication: Bool {
        guard case .server(_, let code, let message) = self else { return false }
        return code == EtcdError.unauthenticated || message.contains("invalid auth token")
            || message.contains("user name is empty")
    }

    /// This member cannot serve now (no leader, stopping): another member may.
    var isMemberUnavailable: Bool {
        guard case .server(_, let code, _) = self else { return false }
        return code == EtcdError.unavailable
    }

    var description: String {
        switch self {
        case .unreachable(let endpoints, let failures):
            "no etcd endpoint answered (\(endpoints.joined(separator: ", "))): \(failures.joined(separator: "; "))"
        case .server(let endpoint, let code, let message):
            "etcd at \(endpoint) refused the request: \(message) (gRPC code \(code))"
        case .badReply(let endpoint, let reason):
            "etcd at \(endpoint) sent an unexpected reply: \(reason)"
        }
    }

    /// Worded for the operator, with what to check; callers may retry every one of these.
    var leaseStoreError: LeaseStoreError {
        switch self {
        case .unreachable(let endpoints, let failures):
            return .io(path: "etcd " + endpoints.joined(separator: ","),
                       reason: "no endpoint answered (\(failures.joined(separator: "; "))); check that etcd runs "
                           + "there and that the endpoints, TLS files and credentials are right")
        case .server(let endpoint, _, let message):
            var hint = ""
            if message.contains("user name is empty") {
                hint = "; etcd has authentication enabled: give a username and password"
            } else if message.contains("authentication failed") {
                hint = "; check the etcd username and password"
            } else if message.contains("permission denied") {
                hint = "; the etcd user needs read-write permission on the key prefix"
            }
            return .io(path: "etcd at \(endpoint)", reason: "\(description.dropFirst("etcd at \(endpoint) ".count))"
                + hint)
        case .badReply(let endpoint, let reason):
            return .io(path: "etcd at \(endpoint)", reason: "unexpected reply (\(reason)); is this an etcd 3.4 or "
                + "newer client URL? Twill speaks etcd's v3 API through its JSON gateway (/v3/)")
        }
    }
}
