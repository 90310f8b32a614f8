import Testing
import TwillControl

@Suite struct ConfigErrorTests {
    @Test func descriptionNamesFieldAndRule() {
        let error = ConfigError(field: "SubnetLen", rule: "must be at least the Network prefix + 2 (18) and at most 30")
        #expect(error.description
            == "invalid network config: SubnetLen must be at least the Network prefix + 2 (18) and at most 30")
        #expect(error.field == "SubnetLen")
    }
}
