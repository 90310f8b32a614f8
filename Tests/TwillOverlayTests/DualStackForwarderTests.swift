import TwillTestSupport
import Glibc
import Testing
import TwillIO
import TwillWire
@testable import TwillOverlay

/// A real forwarder in a dual-stack overlay: the TUN carries an IPv4 and an IPv6 lease, the host has
/// an IPv4 (127.0.0.1) and an IPv6 (::1) underlay socket, and the peers are plain sockets on
/// loopback. IPv6 pods' packets go over the IPv6 underlay where the peer has one, else over IPv4.
@Suite(.serialized, .enabled(if: inPrivateNetworkNamespace(), "needs root inside a network namespace (make test)"))
struct DualStackForwarderTests {
    static let localMAC = MACAddress("02:00:00:00:01:01")!
    static let peerMAC = MACAddress("02:00:00:00:02:02")!
    static let peerMACv6 = MACAddress("02:00:00:00:02:06")!
    static let network6 = IPv6Subnet("fd00:7::/48")!
    static let local6 = IPv6Subnet("fd00:7:0:1::/64")!
    /// Peer A has an IPv6 underlay; peer B only an IPv4 one.
    static let peerA6 = IPv6Subnet("fd00:7:0:2::/64")!
    static let peerB6 = IPv6Subnet("fd00:7:0:3::/64")!
    static let loop6 = IPv6Address("::1")!
    static let loop4 = IPv4Address(127, 0, 0, 1)

    final class Harness {
        let tun: TunDevice
        let socket4: UDPSocket
        let socket6: UDPSocket
        let peerA6: UDPSocket
        let peerA4: UDPSocket
        let peerB4: UDPSocket
        let forwarder: Forwarder
        let format: EncapsulationFormat
        let vni: UInt32 = 7

        init(format: EncapsulationFormat, engine: EngineVariant, index: Int) throws {
            self.format = format
            tun = try TunDevice(name: "twds\(index)")
            let nl = try Netlink()
            try nl.setLink("lo", up: true)
            try nl.setLink(tun.name, up: true, mtu: 1400)
            try nl.addAddress(IPv4Address(10, 245, 1, 0), prefixLength: 32, to: tun.name)
            try nl.addRoute(IPv4Subnet("10.245.0.0/16")!, device: tun.name)
            try nl.addAddress(.v6(DualStackForwarderTests.local6.address), prefixLength: 128, to: tun.name)
            try nl.addRoute(DualStackForwarderTests.network6, device: tun.name)
            socket4 = try UDPSocket(bind: .v4(DualStackForwarderTests.loop4), port: 0)
            socket6 = try UDPSocket(bind: .v6(DualStackForwarderTests.loop6), port: socket4.port)
            peerA4 = try UDPSocket(bind: .v4(DualStackForwarderTests.loop4), port: 0)
            peerA6 = try UDPSocket(bind: .v6(DualStackForwarderTests.loop6), port: peerA4.port)
            peerB4 = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 3)), port: peerA4.port)
            var config = ForwarderConfiguration(
                format: format, vni: vni, localMAC: DualStackForwarderTests.localMAC,
                localSubnet: IPv4Subnet("10.245.1.0/24")!, icmpSource: IPv4Address(10, 245, 0, 0),
                engine: try engine.choice(), batchSize: 32, poolSlots: 512,
                disableMultishotRead: engine == .uringSingleReads)
            config.ipv6 = .init(network: DualStackForwarderTests.network6, localSubnet: DualStackForwarderTests.local6)
            let peers = PeerDirectory(PeerTable(peers: [
                Peer(subnet: IPv4Subnet("10.245.2.0/24")!, underlay: .v4(DualStackForwarderTests.loop4),
                     port: peerA4.port, vtepMAC: DualStackForwarderTests.peerMAC,
                     subnetV6: DualStackForwarderTests.peerA6, underlayV6: DualStackForwarderTests.loop6,
                     vtepMACv6: DualStackForwarderTests.peerMACv6),
                Peer(subnet: IPv4Subnet("10.245.3.0/24")!, underlay: .v4(IPv4Address(127, 0, 0, 3)),
                     port: peerA4.port, vtepMAC: DualStackForwarderTests.peerMAC,
                     subnetV6: DualStackForwarderTests.peerB6),
            ]))
            forwarder = Forwarder(config: config, tun: tun, sockets: [socket4], sockets6: [socket6], peers: peers)
            forwarder.start()
        }

        deinit {
            forwarder.stop()
            tun.close()
        }

        func receive(at s: UDPSocket, timeout: Int32 = 2000) -> [UInt8]? { receiveDatagram(s.fd, timeout: timeout) }

        /// An encapsulated IPv6/UDP packet (with its mandatory checksum) as a peer would send it.
        func encapsulated6(from src: IPv6Address, to dst: IPv6Address, port: UInt16, payload: [UInt8],
                           mac: MACAddress = DualStackForwarderTests.localMAC) -> [UInt8] {
            let udpLength = 8 + payload.count
            let innerLength = 40 + udpLength
            var buf = [UInt8](repeating: 0, count: 64 + innerLength)
            return buf.withUnsafeMutableBytes { b -> [UInt8] in
                let inner = UnsafeMutableRawBufferPointer(rebasing: b[64...])
                try! IPv6Repr(source: src, destination: dst, nextHeader: IPProtocol.udp, payloadLength: udpLength)
                    .emit(into: inner)
                let udp = UnsafeMutableRawBufferPointer(rebasing: inner[40...])
                try! UDPRepr(sourcePort: 5555, destinationPort: port, payloadLength: payload.count).emit(into: udp)
                payload.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: udp[8...]).copyMemory(from: $0) }
                let pseudo = InternetChecksum.pseudoHeaderSum(source: src, destination: dst, proto: IPProtocol.udp,
                                                              length: udpLength)
                let sum = InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(udp), initial: pseudo))
                udp.storeBytes(of: (sum == 0 ? 0xffff : sum).bigEndian, toByteOffset: 6, as: UInt16.self)
                let enc = Encapsulator(format: format, vni: vni, localMAC: DualStackForwarderTests.peerMAC)
                let start = try! enc.encapsulate(b, innerOffset: 64, innerLength: innerLength, innerVersion: 6, peerMAC: mac)
                return Array(b[start...])
            }
        }

        func send(_ bytes: [UInt8], from sender: UDPSocket, to local: UDPSocket) {
            bytes.withUnsafeBytes { try? sender.send($0, to: local.localAddress) }
        }

        func waitFor(_ condition: () -> Bool) -> Bool { TwillTestSupport.waitFor(condition) }
    }

    static let cases: [(EncapsulationFormat, EngineVariant)] = EncapsulationFormat.allCases.flatMap { f in
        [EngineVariant.uringMultishot, .syscalls].map { (f, $0) }
    }

    @Test(arguments: cases.indices)
    func ipv6PodsTravelOverTheIPv6UnderlayOrElseIPv4(caseIndex: Int) throws {
        let (format, engine) = DualStackForwarderTests.cases[caseIndex]
        let h = try Harness(format: format, engine: engine, index: caseIndex)
        let app = try UDPSocket(bind: .v6(DualStackForwarderTests.local6.address), port: 0)
        usleep(50_000)
        let decap = Decapsulator(format: format, vni: h.vni, localMAC: DualStackForwarderTests.peerMACv6)
        // To peer A (IPv6 underlay): arrives on A's IPv6 socket, inner IPv6 with the hop limit taken down once.
        let payload = Array("v6 pod to v6 pod \(format)".utf8)
        let a = IPv6Address("fd00:7:0:2::5")!
        payload.withUnsafeBytes { try? app.send($0, to: SocketAddress(.v6(a), port: 7777)) }
        var datagram = try #require(h.receive(at: h.peerA6))
        let inner = try datagram.withUnsafeMutableBytes { b throws(WireError) in try decap.decapsulate(b) }
        #expect(inner.info.source == .v6(DualStackForwarderTests.local6.address))
        #expect(inner.info.destination == .v6(a))
        #expect(inner.info.destinationPort == 7777)
        #expect(datagram[inner.offset + 7] == 63, "hop limit 64 - 1")
        #expect(Array(datagram[(inner.offset + 48)...]) == payload)
        if format == .vxlan {
            #expect(Array(datagram[8..<14]) == [0x02, 0, 0, 0, 2, 6], "inner destination = the peer's IPv6 VTEP MAC")
            #expect(Array(datagram[20..<22]) == [0x86, 0xdd], "EtherType IPv6")
        }
        #expect(h.receive(at: h.peerA4, timeout: 50) == nil, "nothing over the IPv4 underlay")

        // To peer B (no IPv6 underlay): the IPv6 inner packet goes over IPv4, to its IPv4 VTEP MAC.
        let b = IPv6Address("fd00:7:0:3::5")!
        payload.withUnsafeBytes { try? app.send($0, to: SocketAddress(.v6(b), port: 7777)) }
        datagram = try #require(h.receive(at: h.peerB4))
        let decap4 = Decapsulator(format: format, vni: h.vni, localMAC: DualStackForwarderTests.peerMAC)
        let innerB = try datagram.withUnsafeMutableBytes { b throws(WireError) in try decap4.decapsulate(b) }
        #expect(innerB.info.destination == .v6(b))

        // IPv4 pods still go over IPv4 to peer A.
        let app4 = try UDPSocket(bind: .v4(IPv4Address(10, 245, 1, 0)), port: 0)
        payload.withUnsafeBytes { try? app4.send($0, to: SocketAddress(.v4(IPv4Address(10, 245, 2, 5)), port: 7777)) }
        datagram = try #require(h.receive(at: h.peerA4), "\(h.forwarder.counters.value(.sentPackets)) sent, \(h.forwarder.counters.totalDrops) dropped")
        let innerA4 = try datagram.withUnsafeMutableBytes { b throws(WireError) in try decap4.decapsulate(b) }
        #expect(innerA4.info.destination == .v4(IPv4Address(10, 245, 2, 5)))
        #expect(h.waitFor { h.forwarder.counters.value(.sentPackets) >= 3 })
    }

    @Test(arguments: cases.indices)
    func ipv6IngressOverBothUnderlaysAndItsRefusals(caseIndex: Int) throws {
        let (format, engine) = DualStackForwarderTests.cases[caseIndex]
        let h = try Harness(format: format, engine: engine, index: 10 + caseIndex)
        let app = try UDPSocket(bind: .v6(DualStackForwarderTests.local6.address), port: 0)
        let c = h.forwarder.counters
        let me = DualStackForwarderTests.local6.address
        usleep(50_000)
        let payload = Array("from the v6 peer".utf8)
        var pfd = pollfd(fd: app.fd, events: Int16(POLLIN), revents: 0)
        var buf = [UInt8](repeating: 0, count: 2048)
        // Over the IPv6 underlay from peer A, and over the IPv4 underlay from peer B.
        for (sender, local, from) in [(h.peerA6, h.socket6, "fd00:7:0:2::9"), (h.peerB4, h.socket4, "fd00:7:0:3::9")] {
            h.send(h.encapsulated6(from: IPv6Address(from)!, to: me, port: app.port, payload: payload), from: sender, to: local)
            #expect(poll(&pfd, 1, 2000) == 1, "from \(from)")
            let n = recv(app.fd, &buf, buf.count, 0)
            #expect(Array(buf[0..<max(0, n)]) == payload)
        }
        // Spoofed: peer A sends with a source from peer B's IPv6 subnet.
        h.send(h.encapsulated6(from: IPv6Address("fd00:7:0:3::9")!, to: me, port: app.port, payload: payload),
               from: h.peerA6, to: h.socket6)
        #expect(h.waitFor { c.drops(.spoofedInnerSource) == 1 })
        // Not for this host.
        h.send(h.encapsulated6(from: IPv6Address("fd00:7:0:2::9")!, to: IPv6Address("fd00:7:0:9::1")!, port: app.port,
                               payload: payload), from: h.peerA6, to: h.socket6)
        #expect(h.waitFor { c.drops(.notForThisHost) == 1 })
        // An unknown IPv6 sender (the same port from another address).
        let strangerAddress = IPv6Address("fd00:99::2")!
        try Netlink().addAddress(.v6(strangerAddress), prefixLength: 128, to: "lo")
        let stranger = try UDPSocket(bind: .v6(strangerAddress), port: h.peerA6.port)
        h.send(h.encapsulated6(from: IPv6Address("fd00:7:0:2::9")!, to: me, port: app.port, payload: payload),
               from: stranger, to: h.socket6)
        #expect(h.waitFor { c.drops(.unknownPeer) == 1 })
        // Garbage over IPv6.
        h.send([0x60, 0x00], from: h.peerA6, to: h.socket6)
        #expect(h.waitFor { c.drops(.malformed(.truncated)) == 1 })
        #expect(poll(&pfd, 1, 100) == 0, "nothing hostile reached the application")
        #expect(c.value(.tunWritePackets) == 2)
    }

    @Test(arguments: [EngineVariant.uringMultishot, .syscalls])
    func ipv6NoRouteAndHopLimitAnswerWithICMPv6(engine: EngineVariant) throws {
        let h = try Harness(format: .vxlan, engine: engine, index: 30 + (engine == .syscalls ? 1 : 0))
        let c = h.forwarder.counters
        usleep(50_000)
        func connected(to address: IPv6Address, hops: Int32? = nil) -> Int32 {
            var one: Int32 = 1
            let s = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
            setsockopt(s, Int32(IPPROTO_IPV6), IPV6_RECVERR, &one, 4)
            if var hops { setsockopt(s, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, &hops, 4) }
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var to = SocketAddress(.v6(address), port: 9)
            _ = withUnsafePointer(to: &to.storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, to.length) } }
            return s
        }
        var b: UInt8 = 0
        let s = connected(to: IPv6Address("fd00:7:0:9::9")!)
        defer { close(s) }
        _ = send(s, "x", 1, 0)
        #expect(h.waitFor { c.drops(.noRoute) == 1 && c.value(.icmpErrorsSent) == 1 })
        let r = recv(s, &b, 1, 0)
        let err = errno
        #expect(r < 0 && err == ENETUNREACH, "ICMPv6 no route reaches the sender (errno \(err))")

        let t = connected(to: IPv6Address("fd00:7:0:2::9")!, hops: 1)
        defer { close(t) }
        _ = send(t, "y", 1, 0)
        #expect(h.waitFor { c.drops(.ttlExpired) == 1 && c.value(.icmpErrorsSent) == 2 })
        let r2 = recv(t, &b, 1, 0)
        let err2 = errno
        #expect(r2 < 0 && err2 == EHOSTUNREACH, "ICMPv6 time exceeded reaches the sender (errno \(err2))")
        #expect(h.receive(at: h.peerA6, timeout: 100) == nil, "an expired packet is not forwarded")
        // Link-local traffic of the TUN itself (a router solicitation, say) is not routed and not answered.
        #expect(c.value(.icmpErrorsSent) == 2)
    }
}
