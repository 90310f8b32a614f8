@testable import TwillControl
import TwillTestSupport
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKind() throws {
        let value = try JSONParser.parse(#" { "a" : [1, -2.5e3, true, false, null, "s"], "b": {} } "#)
        #expect(value == .object([
            ("a", .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("s")])),
            ("b", .object([])),
        ]))
    }

    @Test func decodesEscapes() throws {
        let value = try JSONParser.parse(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#)
        #expect(value == .string("a\"\\/\u{8}\u{c}\n\r\té😀"))
    }

    @Test func keepsUTF8Text() throws {
        #expect(try JSONParser.parse(#""héllo ✓""#) == .string("héllo ✓"))
    }

    @Test(arguments: [
        ("", "the document is empty"),
        ("{", "expected a quoted member name"),
        (#"{"a" 1}"#, "expected ':'"),
        (#"{"a":1,}"#, "expected a quoted member name"),
        ("[1,]", "unexpected character ']'"),
        ("[1 2]", "expected ',' or ']'"),
        ("tru", "invalid literal"),
        ("01", "leading zero"),
        ("1.", "digit expected after '.'"),
        ("1e", "digit expected in exponent"),
        ("-", "invalid number"),
        (#""abc"#, "unterminated string"),
        ("\"a\nb\"", "control character"),
        (#""\x""#, "invalid escape"),
        (#""\u12""#, "4 hex digits"),
        (#""\ud800""#, "unpaired surrogate"),
        (#""\udc00""#, "unpaired surrogate"),
        ("{} x", "unexpected text after"),
        ("'a'", "unexpected character"),
    ])
    func refusesMalformedInput(text: String, message: String) {
        #expect {
            try JSONParser.parse(text)
        } throws: { error in
            (error as? JSONParseError)?.message.contains(message) == true
        }
    }

    @Test func reportsLineAndColumn() {
        #expect(throws: JSONParseError(message: "unexpected character 'x'", line: 2, column: 8)) {
            try JSONParser.parse("{\n  \"a\": x}")
        }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xff, 0x22]) }
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth)
        _ = try JSONParser.parse(fine)
    }

    @Test func neverTrapsOnRandomInput() {
        var generator = SeededGenerator(seed: 7)
        let alphabet = Array(#"{}[]":,0123456789-+.eEtruefalsn\ ab"#.utf8) + [0xff, 0x00, 0x0a]
        for _ in 0..<5000 {
            let length = Int.random(in: 0...24, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            _ = try? JSONParser.parse(bytes)
        }
    }
}
