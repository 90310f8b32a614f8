@testable import TwillControl
import Testing

@Suite struct JSONParseErrorTests {
    @Test func descriptionGivesThePosition() {
        let error = JSONParseError(message: "unexpected character 'x'", line: 2, column: 7)
        #expect(error.description == "unexpected character 'x' at line 2, column 7")
    }
}
