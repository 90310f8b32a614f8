/// A CNI plugin's failure as the CNI spec has it reach the runtime: a JSON object on stdout
/// (`{"cniVersion","code","msg","details"}`) and a non-zero exit status.
public struct CNIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The spec's well-known codes (0-99 are reserved to it), plus one of Twill's own (100+ are free).
    public enum Code: Int, Sendable {
        case incompatibleVersion = 1
        case unsupportedField = 2
        case unknownContainer = 3
        case invalidEnvironment = 4
        case ioFailure = 5
        case decodeFailure = 6
        case invalidNetworkConfig = 7
        case tryAgainLater = 11
        /// The delegate plugin failed without writing a CNI error of its own.
        case delegateFailed = 100
    }

    public let code: Code
    /// What went wrong, naming the field, variable or file and the rule it broke.
    public let message: String
    public let details: String
    /// The version to answer in: the network config's, once it is known to be one this plugin speaks.
    public var cniVersion: String?

    public init(_ code: Code, _ message: String, details: String = "", cniVersion: String? = nil) {
        self.code = code
        self.message = message
        self.details = details
        self.cniVersion = cniVersion
    }

    public var description: String { "CNI error \(code.rawValue): \(message)" + (details.isEmpty ? "" : " (\(details))") }

    /// The reply for stdout.
    public var json: String {
        JSONValue.object([
            ("cniVersion", .string(cniVersion ?? CNIVersion.newest)),
            ("code", .int(code.rawValue)),
            ("msg", .string(message)),
            ("details", .string(details)),
        ]).serialized(indent: 2)
    }

    /// Whether a plugin's stdout is a CNI error reply (an object with an integer `code`), which a
    /// failed delegate's output must be for the runtime to read it as one.
    public static func isErrorReply(_ output: [UInt8]) -> Bool {
        guard let reply = try? JSONParser.parse(output), case .object = reply else { return false }
        return reply.member("code")?.integer != nil
    }
}

extension CNIError {
    /// A missing subnet file usually means the daemon has not written it yet, so the runtime is told to
    /// retry; an unreadable or malformed one needs a person.
    public init(_ error: SubnetFileError) {
        let code: Code = switch error.kind {
        case .missing: .tryAgainLater
        case .unreadable: .ioFailure
        case .variableMissing, .variableInvalid: .decodeFailure
        }
        self.init(code, error.description)
    }
}
