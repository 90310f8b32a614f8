import Testing
import TwillControl

@Suite struct LeaseFormatErrorTests {
    @Test func descriptionNamesTheField() {
        let error = LeaseFormatError(field: "PublicIP", problem: "is required: an IPv4 address string")
        #expect(error.description == "invalid lease value: PublicIP is required: an IPv4 address string")
    }
}
