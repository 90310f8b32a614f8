import Foundation
import Testing
import TwillControl
import TwillWire

@Suite struct LeaseTests {
    @Test func keyIsFlannels() {
        #expect(Lease.key(for: subnet("10.5.52.0/24")) == "10.5.52.0-24")
        #expect(Lease.key(for: subnet("10.5.52.128/30")) == "10.5.52.128-30")
        let lease = Lease(subnet: subnet("10.5.52.0/24"), attributes: .udp(publicIP: ip("192.0.2.1")),
                          expiration: Date())
        #expect(lease.key == "10.5.52.0-24")
    }

    @Test(arguments: [
        ("10.5.52.0-24", "10.5.52.0/24"),
        ("10.5.52.0-24&fc00::-64", "10.5.52.0/24"),
        ("/coreos.com/network/subnets/10.5.52.0-24", "10.5.52.0/24"),
        ("/coreos.com/network/subnets/10.244.1.0-24&fd00:1::-64", "10.244.1.0/24"),
        ("0.0.0.0-0", "0.0.0.0/0"),
    ])
    func parsesKeys(key: String, expected: String) {
        #expect(Lease.parseKey(key) == subnet(expected))
    }

    @Test(arguments: ["", "10.5.52.0", "10.5.52.0/24", "10.5.52.0-", "10.5.52.0-33", "10.5.52.1-24",
                      "10.5.52.0-+24", "10.5.52.0-24&", "10.5.52.0-24&fc00::", "10.5.52.0-24&zz::-64",
                      "10.5.52-24", "config"])
    func refusesOtherKeys(key: String) {
        #expect(Lease.parseKey(key) == nil)
    }

    @Test func keyRoundTrips() {
        for text in ["10.0.0.0/8", "10.5.52.0/24", "192.168.7.4/30"] {
            #expect(Lease.parseKey(Lease.key(for: subnet(text))) == subnet(text))
        }
    }

    @Test func expiry() {
        let now = Date()
        let lease = Lease(subnet: subnet("10.5.52.0/24"), attributes: .udp(publicIP: ip("192.0.2.1")),
                          expiration: now + 10)
        #expect(!lease.isExpired(at: now))
        #expect(lease.isExpired(at: now + 10))
        #expect(lease.isExpired(at: now + 11))
        #expect(!lease.isExpired())
    }
}
