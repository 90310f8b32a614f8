/// Why a document is not JSON, with the position so a person can find the mistake.
struct JSONParseError: Error, Equatable, CustomStringConvertible {
    var message: String
    var line: Int
    var column: Int

    var description: String { "\(message) at line \(line), column \(column)" }
}
