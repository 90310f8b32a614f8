import Foundation
import Testing

/// The library guide shows the example program verbatim; the example itself is built with the package.
@Suite struct LibraryGuideTests {
    @Test func guideShowsTheExampleAsItIs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let example = try String(contentsOf: root.appendingPathComponent("Examples/TunToUDP/main.swift"), encoding: .utf8)
        let guide = try String(contentsOf: root.appendingPathComponent("Docs/Library.md"), encoding: .utf8)
        #expect(guide.contains("```swift\n" + example + "```"))
    }
}
