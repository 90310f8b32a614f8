/// Why a network config was refused. Every message names the offending field and the rule it broke,
/// because flannel's terse errors ("please define a correct Network parameter") cost users hours.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The JSON field, dotted for nested ones ("Backend.Port"); "JSON" when the document itself is bad.
    public let field: String
    /// What the field must satisfy, phrased to follow the field name ("must be an IPv4 CIDR ...").
    public let rule: String

    public init(field: String, rule: String) {
        self.field = field
        self.rule = rule
    }

    public var description: String { "invalid network config: \(field) \(rule)" }
}
