/// Why a lease value (flannel's lease JSON, as stored in etcd or the embedded store) could not be read.
public struct LeaseFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The JSON field ("PublicIP", "BackendData.VtepMAC"), or "JSON" for the document itself.
    public let field: String
    public let problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "invalid lease value: \(field) \(problem)" }
}
