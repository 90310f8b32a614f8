import Testing
import TwillControl
import TwillWire

@Suite struct LeaseStoreErrorTests {
    @Test func descriptionsSayWhatHappenedAndWhatToDo() {
        #expect(LeaseStoreError.leaseLost(subnet("10.5.1.0/24")).description.contains("10.5.1.0/24"))
        let corrupt = LeaseStoreError.corruptStore(path: "/run/twill/leases.json", reason: "not JSON")
        #expect(corrupt.description.contains("/run/twill/leases.json"))
        #expect(corrupt.description.contains("not JSON"))
        #expect(corrupt.description.contains("left untouched"))
        let full = LeaseStoreError.noFreeSubnet(min: ip("10.5.1.0"), max: ip("10.5.255.0"), subnetLength: 24)
        #expect(full.description.hasPrefix("no free subnet in SubnetMin..SubnetMax (10.5.1.0/24 to 10.5.255.0/24)"))
        let missing = LeaseStoreError.configMissing(where: "/etc/twill/net.json", fix: "write it")
        #expect(missing.description == "no network config at /etc/twill/net.json: write it")
        let invalid = LeaseStoreError.invalidConfig(where: "/etc/twill/net.json",
                                                    ConfigError(field: "SubnetLen", rule: "must be at most 30"))
        #expect(invalid.description.contains("/etc/twill/net.json") && invalid.description.contains("SubnetLen must be at most 30"))
        #expect(LeaseStoreError.io(path: "/x", reason: "boom").description == "/x: boom")
        #expect(LeaseStoreError.lockTimeout(path: "/x.lock", waited: .seconds(30)).description.contains("/x.lock"))
        #expect(LeaseStoreError.raceLost(attempts: 10).description.contains("10 times"))
    }
}
