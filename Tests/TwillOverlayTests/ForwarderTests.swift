import TwillTestSupport
import Glibc
import Testing
import TwillIO
import TwillWire
@testable import TwillOverlay

/// One real forwarder (TUN + io_uring or syscalls + UDP) whose remote peer is played by a plain UDP
/// socket on loopback, inside the test's network namespace.
@Suite(.serialized, .enabled(if: inPrivateNetworkNamespace(), "needs root inside a network namespace (make test)"))
struct ForwarderTests {
    static let localMAC = MACAddress("02:00:00:00:01:01")!
    static let peerMAC = MACAddress("02:00:00:00:02:02")!

    final class Harness {
        let tun: TunDevice
        let socket: UDPSocket
        let peerSocket: UDPSocket
        let forwarder: Forwarder
        let format: EncapsulationFormat
        let vni: UInt32 = 7

        init(format: EncapsulationFormat, engine: EngineVariant, index: Int) throws {
            self.format = format
            tun = try TunDevice(name: "twfw\(index)")
            let nl = try Netlink()
            try nl.setLink(tun.name, up: true, mtu: 1400)
            try nl.addAddress(IPv4Address(10, 244, 1, 0), prefixLength: 32, to: tun.name)
            try nl.addRoute(IPv4Subnet("10.244.0.0/16")!, device: tun.name)
            socket = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0)
            peerSocket = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0)
            let config = ForwarderConfiguration(
                format: format, vni: vni, localMAC: ForwarderTests.localMAC,
                localSubnet: IPv4Subnet("10.244.1.0/24")!, icmpSource: IPv4Address(10, 244, 0, 0),
                engine: try engine.choice(), batchSize: 32, poolSlots: 512,
                disableMultishotRead: engine == .uringSingleReads)
            let peers = PeerDirectory(PeerTable(peers: [
                Peer(subnet: IPv4Subnet("10.244.2.0/24")!, underlay: .v4(IPv4Address(127, 0, 0, 1)),
                     port: peerSocket.port, vtepMAC: ForwarderTests.peerMAC),
            ]))
            forwarder = Forwarder(config: config, tun: tun, socket: socket, peers: peers)
            forwarder.start()
        }

        deinit {
            forwarder.stop()
            tun.close()
        }

        /// Waits for one datagram on the peer socket.
        func receiveAtPeer(timeout: Int32 = 2000) -> [UInt8]? { receiveDatagram(peerSocket.fd, timeout: timeout) }

        /// Builds an encapsulated IPv4/UDP packet as a peer would send it.
        func encapsulated(from src: IPv4Address, to dst: IPv4Address, port: UInt16, payload: [UInt8],
                          vni: UInt32? = nil, mac: MACAddress = ForwarderTests.localMAC) -> [UInt8] {
            let innerLength = 28 + payload.count
            var buf = [UInt8](repeating: 0, count: 64 + innerLength)
            return buf.withUnsafeMutableBytes { b -> [UInt8] in
                let inner = UnsafeMutableRawBufferPointer(rebasing: b[64...])
                try! IPv4Repr(source: src, destination: dst, proto: IPProtocol.udp, payloadLength: 8 + payload.count)
                    .emit(into: inner)
                try! UDPRepr(sourcePort: 5555, destinationPort: port, payloadLength: payload.count)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: inner[20...]))
                payload.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: inner[28...]).copyMemory(from: $0) }
                let enc = Encapsulator(format: format, vni: vni ?? self.vni, localMAC: ForwarderTests.peerMAC)
                let start = try! enc.encapsulate(b, innerOffset: 64, innerLength: innerLength, innerVersion: 4, peerMAC: mac)
                return Array(b[start...])
            }
        }

        func sendFromPeer(_ bytes: [UInt8], via sender: UDPSocket? = nil) {
            bytes.withUnsafeBytes { try? (sender ?? peerSocket).send($0, to: socket.localAddress) }
        }

        func waitFor(_ condition: () -> Bool) -> Bool { TwillTestSupport.waitFor(condition) }
    }

    static let cases: [(EncapsulationFormat, EngineVariant)] = EncapsulationFormat.allCases.flatMap { f in
        EngineVariant.allCases.map { (f, $0) }
    }

    @Test(arguments: cases.indices)
    func egressEncapsulatesToThePeerWithTTLDecrementedOnce(caseIndex: Int) throws {
        let (format, engine) = ForwarderTests.cases[caseIndex]
        let h = try Harness(format: format, engine: engine, index: caseIndex)
        let app = try UDPSocket(bind: .v4(IPv4Address(10, 244, 1, 0)), port: 0)
        let payload = Array("pod to pod \(format)".utf8)
        usleep(50_000)
        payload.withUnsafeBytes { try? app.send($0, to: SocketAddress(.v4(IPv4Address(10, 244, 2, 5)), port: 7777)) }
        let datagram = try #require(h.receiveAtPeer())
        let decap = Decapsulator(format: format, vni: h.vni, localMAC: ForwarderTests.peerMAC)
        var copy = datagram
        let inner = try copy.withUnsafeMutableBytes { b throws(WireError) in try decap.decapsulate(b) }
        #expect(inner.info.source == .v4(IPv4Address(10, 244, 1, 0)))
        #expect(inner.info.destination == .v4(IPv4Address(10, 244, 2, 5)))
        #expect(inner.info.destinationPort == 7777)
        #expect(Array(datagram[(inner.offset + 28)...]) == payload)
        if format == .vxlan {
            #expect(Array(datagram[0..<8]) == [0x08, 0, 0, 0, 0, 0, 7, 0])
            #expect(Array(datagram[8..<14]) == [0x02, 0, 0, 0, 2, 2], "inner destination = peer VTEP MAC")
            #expect(Array(datagram[14..<20]) == [0x02, 0, 0, 0, 1, 1], "inner source = our VTEP MAC")
        }
        // The sender's TTL is 64; the datapath takes exactly one off.
        #expect(datagram[inner.offset + 8] == 63)
        // Its header checksum is still valid after the decrement.
        let ok = copy.withUnsafeMutableBytes { b in
            (try? IPv4Packet(UnsafeMutableRawBufferPointer(rebasing: b[inner.offset...])))?.headerChecksumIsValid ?? false
        }
        #expect(ok)
        #expect(h.waitFor { h.forwarder.counters.value(.sentPackets) >= 1 })
    }

    @Test(arguments: cases.indices)
    func ingressDeliversAndRefusesHostileDatagrams(caseIndex: Int) throws {
        let (format, engine) = ForwarderTests.cases[caseIndex]
        let h = try Harness(format: format, engine: engine, index: 10 + caseIndex)
        let app = try UDPSocket(bind: .v4(IPv4Address(10, 244, 1, 0)), port: 0)
        let c = h.forwarder.counters
        usleep(50_000)
        let payload = Array("from the peer".utf8)
        h.sendFromPeer(h.encapsulated(from: IPv4Address(10, 244, 2, 9), to: IPv4Address(10, 244, 1, 0), port: app.port, payload: payload))
        var pfd = pollfd(fd: app.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pfd, 1, 2000) == 1)
        var buf = [UInt8](repeating: 0, count: 2048)
        let n = recv(app.fd, &buf, buf.count, 0)
        #expect(Array(buf[0..<max(0, n)]) == payload)

        // Spoofed inner source (outside the peer's 10.244.2.0/24).
        h.sendFromPeer(h.encapsulated(from: IPv4Address(10, 244, 3, 9), to: IPv4Address(10, 244, 1, 0), port: app.port, payload: payload))
        #expect(h.waitFor { c.drops(.spoofedInnerSource) == 1 })
        // Unknown sender: same bytes from another underlay address.
        let stranger = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 2)), port: 0)
        h.sendFromPeer(h.encapsulated(from: IPv4Address(10, 244, 2, 9), to: IPv4Address(10, 244, 1, 0), port: app.port, payload: payload), via: stranger)
        #expect(h.waitFor { c.drops(.unknownPeer) == 1 })
        // Not for this host.
        h.sendFromPeer(h.encapsulated(from: IPv4Address(10, 244, 2, 9), to: IPv4Address(10, 244, 7, 1), port: app.port, payload: payload))
        #expect(h.waitFor { c.drops(.notForThisHost) == 1 })
        // Garbage.
        h.sendFromPeer([0x45, 0x00, 0x01])
        if format == .vxlan {
            #expect(h.waitFor { c.drops(.malformed(.truncated)) == 1 })
            h.sendFromPeer(h.encapsulated(from: IPv4Address(10, 244, 2, 9), to: IPv4Address(10, 244, 1, 0), port: app.port, payload: payload, vni: 99))
            #expect(h.waitFor { c.drops(.malformed(.wrongVNI)) == 1 })
            h.sendFromPeer(h.encapsulated(from: IPv4Address(10, 244, 2, 9), to: IPv4Address(10, 244, 1, 0), port: app.port, payload: payload, mac: MACAddress("02:99:99:99:99:99")!))
            #expect(h.waitFor { c.drops(.malformed(.innerDestinationMACNotOurs)) == 1 })
        } else {
            #expect(h.waitFor { c.drops(.malformed(.truncated)) == 1 })
        }
        // Nothing hostile reached the application.
        #expect(poll(&pfd, 1, 100) == 0)
        #expect(c.value(.tunWritePackets) == 1)
    }

    @Test(arguments: [EngineVariant.uringMultishot, .syscalls])
    func noRouteAndExpiredTTLAnswerWithICMP(engine: EngineVariant) throws {
        let h = try Harness(format: .vxlan, engine: engine, index: 30 + EngineVariant.allCases.firstIndex(of: engine)!)
        let c = h.forwarder.counters
        usleep(50_000)
        // A connected UDP socket with IP_RECVERR reports ICMP errors (even soft ones) as errno.
        var one: Int32 = 1
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(s) }
        setsockopt(s, Int32(IPPROTO_IP), IP_RECVERR, &one, 4)
        var to = SocketAddress(.v4(IPv4Address(10, 244, 9, 9)), port: 9)
        _ = withUnsafePointer(to: &to.storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, to.length) } }
        _ = send(s, "x", 1, 0)
        #expect(h.waitFor { c.drops(.noRoute) == 1 && c.value(.icmpErrorsSent) == 1 })
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var b: UInt8 = 0
        let r = recv(s, &b, 1, 0)
        let err = errno
        #expect(r < 0 && err == ENETUNREACH, "errno \(err)")

        let t = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(t) }
        setsockopt(t, Int32(IPPROTO_IP), IP_RECVERR, &one, 4)
        var ttl: Int32 = 1
        setsockopt(t, Int32(IPPROTO_IP), IP_TTL, &ttl, 4)
        var peerAddr = SocketAddress(.v4(IPv4Address(10, 244, 2, 9)), port: 9)
        _ = withUnsafePointer(to: &peerAddr.storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(t, $0, peerAddr.length) } }
        setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = send(t, "y", 1, 0)
        #expect(h.waitFor { c.drops(.ttlExpired) == 1 && c.value(.icmpErrorsSent) == 2 })
        let r2 = recv(t, &b, 1, 0)
        let err2 = errno
        #expect(r2 < 0 && err2 == EHOSTUNREACH, "time exceeded reaches the sender (errno \(err2))")
        #expect(h.receiveAtPeer(timeout: 100) == nil, "an expired packet is not forwarded")
    }
}
