import Testing
import TwillControl

@Suite struct ControlFileErrorTests {
    @Test func descriptionNamesThePath() {
        let error = ControlFileError(path: "/run/flannel/subnet.env", operation: "write", reason: "No space left on device")
        #expect(error.description == "cannot write /run/flannel/subnet.env: No space left on device")
    }
}
