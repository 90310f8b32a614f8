@testable import TwillControl
import Testing

@Suite struct JSONValueTests {
    @Test func compactSerializationHasNoSpacesAndKeepsOrder() {
        let value = JSONValue.object([
            ("b", .int(1)), ("a", .array([.bool(true), .null, .string("x")])), ("c", .object([])),
        ])
        #expect(value.serialized() == #"{"b":1,"a":[true,null,"x"],"c":{}}"#)
    }

    @Test func indentedSerialization() {
        let value = JSONValue.object([("a", .array([.int(1), .int(2)])), ("b", .object([]))])
        #expect(value.serialized(indent: 2) == "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}")
    }

    @Test func stringsAreEscapedLikeGo() {
        var out = ""
        JSONValue.writeString("q\"b\\n\n\t\r\u{1}\u{2028}é", to: &out)
        #expect(out == #""q\"b\\n\n\t\r\u0001\u2028é""#)
    }

    @Test func lookupPrefersExactKeyThenCaseInsensitiveAndTakesTheLast() throws {
        let doc = try JSONParser.parse(#"{"network":"a","Network":"b","NETWORK":"c","x":1,"x":2}"#)
        #expect(doc["Network"] == .string("b"))
        #expect(doc["nEtWoRk"] == .string("c"))
        #expect(doc["x"]?.integer == 2)
        #expect(doc["missing"] == nil)
        #expect(JSONValue.array([])["x"] == nil)
    }

    @Test func integerOnlyForWholeLiterals() {
        #expect(JSONValue.number("24").integer == 24)
        #expect(JSONValue.number("-3").integer == -3)
        #expect(JSONValue.number("24.0").integer == nil)
        #expect(JSONValue.number("1e3").integer == nil)
        #expect(JSONValue.number("99999999999999999999999").integer == nil)
        #expect(JSONValue.string("24").integer == nil)
    }

    @Test func accessorsAndKinds() {
        #expect(JSONValue.bool(true).bool == true)
        #expect(JSONValue.number("1").bool == nil)
        #expect(JSONValue.string("s").string == "s")
        #expect(JSONValue.null.isNull)
        #expect(!JSONValue.bool(false).isNull)
        #expect(JSONValue.object([]).kindDescription == "an object")
        #expect(JSONValue.array([]).kindDescription == "an array")
        #expect(JSONValue.number("1").kindDescription == "a number")
    }

    @Test func equalityComparesObjectsInOrder() {
        #expect(JSONValue.object([("a", .int(1)), ("b", .int(2))]) == .object([("a", .int(1)), ("b", .int(2))]))
        #expect(JSONValue.object([("a", .int(1)), ("b", .int(2))]) != .object([("b", .int(2)), ("a", .int(1))]))
        #expect(JSONValue.number("1") != .string("1"))
    }
}
