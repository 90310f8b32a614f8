import Testing
import TwillWire

@Suite("WireError")
struct WireErrorTests {
    @Test("every reason has its own snake_case counter name")
    func names() {
        let names = WireError.allCases.map(\.description)
        #expect(Set(names).count == WireError.allCases.count)
        for n in names {
            #expect(!n.isEmpty)
            #expect(n.allSatisfy { $0.isLowercase || $0 == "_" || $0.isNumber }, "\(n)")
        }
        #expect(WireError.truncated.description == "truncated")
        #expect(WireError.innerDestinationMACNotOurs.description == "inner_mac_not_ours")
    }

    @Test("raw values are dense, so counters can be an array indexed by reason")
    func rawValues() {
        #expect(WireError.allCases.map(\.rawValue) == Array(0..<UInt8(WireError.allCases.count)))
    }
}
