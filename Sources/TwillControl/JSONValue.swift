/// A parsed JSON document. Hand-rolled rather than JSONSerialization because Linux Foundation blurs
/// booleans and numbers, loses key order and traps on some inputs; flannel's formats need exact bytes.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text, so integers keep full precision and "24.0" is not mistaken for 24.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order; duplicates are kept and lookups take the last, as Go's decoder does.
    case object([(key: String, value: JSONValue)])

    static func int(_ v: some BinaryInteger) -> JSONValue { .number(String(v)) }

    static func == (l: JSONValue, r: JSONValue) -> Bool {
        switch (l, r) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// Looks a member up the way Go's encoding/json fills struct fields (flannel's parser): an exact
    /// key wins, otherwise a case-insensitive match; the last occurrence wins in both cases.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        if let exact = members.last(where: { $0.key == key }) { return exact.value }
        let folded = key.lowercased()
        return members.last(where: { $0.key.lowercased() == folded })?.value
    }

    /// The value as an integer when the literal is a whole number without fraction or exponent
    /// (Go refuses "24.0" for an integer field too).
    var integer: Int? {
        guard case .number(let text) = self else { return nil }
        return Int(text)
    }

    var string: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    var bool: Bool? {
        guard case .bool(let b) = self else { return nil }
        return b
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A short name of the value's kind for error messages ("a string", "an object").
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Compact text, as Go's json.Marshal writes it (no spaces), or indented for files people read.
    func serialized(indent: Int? = nil) -> String {
        var out = ""
        write(to: &out, indent: indent, depth: 0)
        return out
    }

    private func write(to out: inout String, indent: Int?, depth: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            writeContainer(items.map { (nil, $0) }, open: "[", close: "]", to: &out, indent: indent, depth: depth)
        case .object(let members):
            writeContainer(members.map { ($0.key, $0.value) }, open: "{", close: "}", to: &out, indent: indent,
                           depth: depth)
        }
    }

    private func writeContainer(_ items: [(String?, JSONValue)], open: String, close: String, to out: inout String,
                                indent: Int?, depth: Int) {
        out += open
        guard !items.isEmpty else { return out += close }
        for (i, (key, value)) in items.enumerated() {
            if i > 0 { out += "," }
            if let indent { out += "\n" + String(repeating: " ", count: indent * (depth + 1)) }
            if let key {
                JSONValue.writeString(key, to: &out)
                out += indent == nil ? ":" : ": "
            }
            value.write(to: &out, indent: indent, depth: depth + 1)
        }
        if let indent { out += "\n" + String(repeating: " ", count: indent * depth) }
        out += close
    }

    /// Escapes like Go's encoder for the characters that matter here: quotes, backslashes, control
    /// characters and U+2028/U+2029 (which break JavaScript consumers).
    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}", "\u{2029}", "\u{0}"..."\u{1f}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
