import Testing
import TwillIO
import TwillWire
@testable import TwillOverlay

@Suite struct PeerTableTests {
    func peer(_ subnet: String, _ underlay: String, mac: UInt64 = 0) -> Peer {
        Peer(subnet: IPv4Subnet(subnet)!, underlay: IPAddress(underlay)!, port: 8472, vtepMAC: MACAddress(mac))
    }

    @Test func longestPrefixWins() {
        let t = PeerTable(peers: [peer("10.0.0.0/8", "192.0.2.1"), peer("10.1.0.0/16", "192.0.2.2"),
                                  peer("10.1.2.0/24", "192.0.2.3")])
        #expect(t.peerIndex(for: IPv4Address("10.1.2.3")!) == 2)
        #expect(t.peerIndex(for: IPv4Address("10.1.9.3")!) == 1)
        #expect(t.peerIndex(for: IPv4Address("10.9.9.9")!) == 0)
        #expect(t.peerIndex(for: IPv4Address("11.0.0.1")!) == nil)
    }

    @Test func manyPeersLookUpExactly() {
        var peers: [Peer] = []
        for i in 0..<1000 { peers.append(peer("10.\(i / 256).\(i % 256).0/24", "198.51.100.\(i % 250)")) }
        let t = PeerTable(peers: peers.shuffled())
        for i in stride(from: 0, to: 1000, by: 37) {
            let idx = t.peerIndex(for: IPv4Address("10.\(i / 256).\(i % 256).77")!)
            #expect(idx.map { t.peers[$0].subnet } == IPv4Subnet("10.\(i / 256).\(i % 256).0/24"))
        }
        #expect(t.peerIndex(for: IPv4Address("10.200.0.1")!) == nil)
    }

    @Test func underlayLookupBothFamilies() {
        let t = PeerTable(peers: [peer("10.0.1.0/24", "192.0.2.1"), peer("10.0.2.0/24", "2001:db8::2")])
        #expect(t.peerIndex(underlay: IPAddress("192.0.2.1")!) == 0)
        #expect(t.peerIndex(underlay: IPAddress("2001:db8::2")!) == 1)
        #expect(t.peerIndex(underlay: IPAddress("192.0.2.9")!) == nil)
        #expect(t.endpoint(0) == SocketAddress(IPAddress("192.0.2.1")!, port: 8472))
    }

    @Test func duplicateSubnetKeepsFirst() {
        let t = PeerTable(peers: [peer("10.0.1.0/24", "192.0.2.1"), peer("10.0.1.0/24", "192.0.2.2")])
        #expect(t.count == 1)
        #expect(t.peers[0].underlay == IPAddress("192.0.2.1"))
    }

    @Test func directoryPublishesNewVersions() {
        let d = PeerDirectory()
        let v0 = d.version
        d.publish(PeerTable(peers: [peer("10.0.1.0/24", "192.0.2.1")]))
        #expect(d.version > v0)
        #expect(d.snapshot().table.count == 1)
    }

    @Test func dropReasonsHaveDistinctSlotsAndLabels() {
        let idx = DropReason.all.map(\.index)
        #expect(idx == Array(0..<DropReason.count))
        #expect(Set(DropReason.all.map(\.description)).count == DropReason.count)
    }
}
