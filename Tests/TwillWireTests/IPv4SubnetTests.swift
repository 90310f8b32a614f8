import Testing
import TwillWire

@Suite("IPv4Subnet")
struct IPv4SubnetTests {
    @Test func parse() {
        let s = IPv4Subnet("10.244.1.0/24")
        #expect(s?.address == IPv4Address(10, 244, 1, 0))
        #expect(s?.prefixLength == 24)
        #expect(s?.description == "10.244.1.0/24")
        #expect(IPv4Subnet("10.244.1.5/24") == nil, "host bits set")
        #expect(IPv4Subnet("10.244.1.5/24", strict: false) == s)
        #expect(IPv4Subnet("0.0.0.0/0")?.size == 1 << 32)
    }

    @Test("malformed text is refused, signs included", arguments: [
        "10.244.1.0", "10.244.1.0/", "10.244.1.0/33", "10.244.1.0/-1", "10.244.1.0/+24", "0.0.0.0/-0", "/24",
        "10.244.1.0/24/1", "10.244.1.0/2 4",
    ])
    func refused(_ text: String) {
        #expect(IPv4Subnet(text) == nil)
    }

    @Test func membership() throws {
        let s = try #require(IPv4Subnet("10.244.0.0/16"))
        #expect(s.contains(IPv4Address(10, 244, 200, 3)))
        #expect(!s.contains(IPv4Address(10, 245, 0, 0)))
        #expect(s.contains(try #require(IPv4Subnet("10.244.7.0/24"))))
        #expect(!s.contains(try #require(IPv4Subnet("10.0.0.0/8"))))
        #expect(s.lastAddress == IPv4Address(10, 244, 255, 255))
        #expect(s.size == 65536)
        #expect(s.mask == 0xffff_0000)
        #expect(IPv4Subnet.mask(0) == 0)
        #expect(IPv4Subnet.mask(32) == 0xffff_ffff)
        #expect(IPv4Subnet(address: IPv4Address(10, 244, 1, 9), prefixLength: 24)?.address == IPv4Address(10, 244, 1, 0))
        #expect(IPv4Subnet(address: IPv4Address(0), prefixLength: 33) == nil)
        #expect(try #require(IPv4Subnet("10.0.0.0/8")) < s)
    }
}
