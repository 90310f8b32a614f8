/// Why a subnet file could not be used, naming the file and, for bad content, the variable, so a CNI
/// plugin can tell "the daemon has not written it yet" from "someone wrote it wrong".
public struct SubnetFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// No file at the path (the daemon has not started, or writes elsewhere).
        case missing
        /// The file exists but cannot be read.
        case unreadable(reason: String)
        /// A required variable is absent.
        case variableMissing(String)
        /// A variable's value breaks its rule ("must be ...").
        case variableInvalid(String, value: String, rule: String)
    }

    public let path: String
    public let kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    public var description: String {
        switch kind {
        case .missing:
            "the subnet file \(path) does not exist (is twilld running on this host, with --subnet-file \(path)?)"
        case .unreadable(let reason):
            "cannot read the subnet file \(path): \(reason)"
        case .variableMissing(let name):
            "the subnet file \(path) lacks \(name)"
        case .variableInvalid(let name, let value, let rule):
            "the subnet file \(path) has an invalid \(name): \(rule) (got \"\(value)\")"
        }
    }
}
