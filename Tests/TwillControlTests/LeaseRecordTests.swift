import TwillTestSupport
import Foundation
import Testing
@testable import TwillControl
import TwillWire

@Suite struct LeaseRecordTests {
    @Test func expirationIsWrittenInUTCWithMilliseconds() throws {
        let lease = Lease(subnet: subnet("10.5.1.0/24"), attributes: .udp(publicIP: ip("192.0.2.1")),
                          expiration: Date(timeIntervalSince1970: 1_735_689_600.123))
        #expect(LeaseRecord(lease: lease).expirationText == "2025-01-01T00:00:00.123Z")
        let whole = Lease(subnet: subnet("10.5.1.0/24"), attributes: .udp(publicIP: ip("192.0.2.1")),
                          expiration: Date(timeIntervalSince1970: 1_735_689_600))
        #expect(LeaseRecord(lease: whole).expirationText == "2025-01-01T00:00:00.000Z")
    }

    @Test func expirationRoundTripsExactly() throws {
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<2000 {
            let millis = Int64.random(in: 1_600_000_000_000...2_000_000_000_000, using: &generator)
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let rounded = LeaseRecord.roundedToMilliseconds(date)
            let lease = Lease(subnet: subnet("10.5.1.0/24"), attributes: .udp(publicIP: ip("192.0.2.1")),
                              expiration: rounded)
            #expect(LeaseRecord.parseTime(LeaseRecord(lease: lease).expirationText) == rounded)
        }
    }

    @Test func parsesTimesWithoutFraction() {
        #expect(LeaseRecord.parseTime("2025-01-01T00:00:00Z") == Date(timeIntervalSince1970: 1_735_689_600))
        #expect(LeaseRecord.parseTime("yesterday") == nil)
    }

    @Test func keepsKeyAndValueVerbatim() throws {
        let value = #"{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw"}"#
        let record = try LeaseRecord(key: "10.5.7.0-24&fc00::-64", value: value, expiration: Date())
        #expect(record.key == "10.5.7.0-24&fc00::-64")
        #expect(record.value == value)
        #expect(record.lease.subnet == subnet("10.5.7.0/24"))
        #expect(record.lease.attributes.backendType == "host-gw")
    }

    @Test func refusesBadKeysAndValues() {
        #expect(throws: LeaseFormatError.self) {
            try LeaseRecord(key: "nonsense", value: #"{"PublicIP":"10.0.0.1"}"#, expiration: Date())
        }
        #expect(throws: LeaseFormatError.self) {
            try LeaseRecord(key: "10.5.7.0-24", value: "{", expiration: Date())
        }
    }
}
