import TwillTestSupport
import Glibc
import Testing
import TwillIO
import TwillWire

/// Reads from the TUN through the engine until a UDP packet to `port` shows up (stray IPv6 router
/// solicitations are skipped), bounded in time.
struct TunReader: PacketIOUser {
    let port: UInt16
    let expected: Int
    var payloads: [[UInt8]] = []
    var destinations: [IPAddress] = []

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var batch = PacketBatch(capacity: 32, pool: io.pool)
        let deadline = ContinuousClock.now + .seconds(5)
        while payloads.count < expected && ContinuousClock.now < deadline {
            batch.removeAll()
            _ = try? io.readTun(into: &batch, timeoutMilliseconds: 100)
            for i in 0..<batch.count {
                #expect(batch.offset(i) == io.pool.headroom, "TUN packets land after the headroom")
                let p = batch.packet(i)
                guard let info = try? IPPacketInfo(parsing: p), info.proto == IPProtocol.udp,
                      info.destinationPort == port, let ip = try? IPv4Packet(p) else { continue }
                destinations.append(info.destination)
                payloads.append(Array(ip.payload[8...]))
            }
        }
        batch.removeAll()
    }
}

/// Writes prepared packets to the TUN through the engine.
struct TunWriter: PacketIOUser {
    let packets: [[UInt8]]
    var written = 0

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var batch = PacketBatch(capacity: packets.count, pool: io.pool)
        for p in packets {
            guard batch.appendFromPool(offset: io.pool.headroom, length: p.count) else { return }
            let dst = batch.packet(batch.count - 1)
            p.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
        written = (try? io.writeTun(batch)) ?? 0
    }
}

@Suite(.serialized, .enabled(if: inPrivateNetworkNamespace(), "needs root inside a network namespace (make test)"))
struct TunDeviceTests {
    static func makeTun(_ name: String, subnet third: UInt8) throws -> TunDevice {
        let tun = try TunDevice(name: name)
        let nl = try Netlink()
        try nl.setLink(tun.name, up: true, mtu: 1400)
        try nl.addAddress(IPv4Address(10, 77, third, 1), prefixLength: 24, to: tun.name)
        return tun
    }

    @Test(arguments: EngineVariant.allCases)
    func packetRoutedIntoTunIsRead(engine: EngineVariant) throws {
        let third = UInt8(10 + EngineVariant.allCases.firstIndex(of: engine)!)
        let tun = try TunDeviceTests.makeTun("twr\(third)", subnet: third)
        defer { tun.close() }
        let pool = try PacketPool(slotSize: 2048, count: 256)
        let sender = try UDPSocket(bind: .v4(IPv4Address(10, 77, third, 1)), port: 0)
        // The route to 10.77.x.0/24 goes through the TUN, so these leave through it.
        let target = SocketAddress(.v4(IPv4Address(10, 77, third, 2)), port: 9999)
        var reader = TunReader(port: 9999, expected: 3)
        let messages: [[UInt8]] = (0..<3).map { i in Array("hello tun \(i)".utf8) }
        // Send after the engine is armed: from a second thread, shortly after start.
        let t = DatapathThread(name: "sender") {
            usleep(100_000)
            for m in messages { m.withUnsafeBytes { try? sender.send($0, to: target) } }
        }
        defer { t.join() }
        try engine.choice().open(engine.configuration(tunFD: tun.queues[0]), pool: pool, user: &reader)
        #expect(reader.payloads == messages)
        #expect(reader.destinations.allSatisfy { $0 == .v4(IPv4Address(10, 77, third, 2)) })
        #expect(pool.available == pool.capacity)
    }

    @Test(arguments: EngineVariant.allCases)
    func packetWrittenToTunIsDelivered(engine: EngineVariant) throws {
        let third = UInt8(20 + EngineVariant.allCases.firstIndex(of: engine)!)
        let tun = try TunDeviceTests.makeTun("tww\(third)", subnet: third)
        defer { tun.close() }
        let local = IPv4Address(10, 77, third, 1)
        let receiver = try UDPSocket(bind: .v4(local), port: 0)
        let payload = Array("written into the tun".utf8)
        var packet = [UInt8](repeating: 0, count: 28 + payload.count)
        packet.withUnsafeMutableBytes { b in
            try! IPv4Repr(source: IPv4Address(10, 77, third, 2), destination: local, proto: IPProtocol.udp,
                          payloadLength: 8 + payload.count).emit(into: b)
            try! UDPRepr(sourcePort: 4242, destinationPort: receiver.port, payloadLength: payload.count)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: b[20...]))
            payload.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: b[28...]).copyMemory(from: $0) }
        }
        let pool = try PacketPool(slotSize: 2048, count: 64)
        var writer = TunWriter(packets: [packet, packet])
        try engine.choice().open(engine.configuration(tunFD: tun.queues[0]), pool: pool, user: &writer)
        #expect(writer.written == 2)
        var buf = [UInt8](repeating: 0, count: 2048)
        var pfd = pollfd(fd: receiver.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pfd, 1, 2000) == 1)
        let n = recv(receiver.fd, &buf, buf.count, 0)
        #expect(Array(buf[0..<max(n, 0)]) == payload)
        #expect(pool.available == pool.capacity)
    }

    @Test func exhaustedPoolStopsReadingAndRecovers() throws {
        let tun = try TunDeviceTests.makeTun("twx0", subnet: 30)
        defer { tun.close() }
        let pool = try PacketPool(slotSize: 2048, count: 4)
        var hog = PacketBatch(capacity: 4, pool: pool)
        while hog.appendFromPool(offset: 0) {}
        var io = try SyscallPacketIO(PacketIOConfiguration(tunFD: tun.queues[0]), pool: pool)
        var batch = PacketBatch(capacity: 4, pool: pool)
        let sender = try UDPSocket(bind: .v4(IPv4Address(10, 77, 30, 1)), port: 0)
        let m = Array("x".utf8)
        m.withUnsafeBytes { try? sender.send($0, to: SocketAddress(.v4(IPv4Address(10, 77, 30, 2)), port: 9)) }
        let none = try io.readTun(into: &batch, timeoutMilliseconds: 50)
        #expect(none == 0, "no slot, no read")
        #expect(pool.exhaustions > 0)
        hog.removeAll()
        var got = 0
        for _ in 0..<20 where got == 0 { got = try io.readTun(into: &batch, timeoutMilliseconds: 100) }
        #expect(got >= 1, "reading resumes once slots are back")
        batch.removeAll()
        #expect(pool.available == 4)
    }

    @Test func multiQueueOpensOneDescriptorPerQueue() throws {
        let tun = try TunDevice(name: "twmq0", queueCount: 2)
        defer { tun.close() }
        #expect(tun.queues.count == 2)
        #expect(Netlink.index(of: "twmq0") != nil)
        tun.close()
        #expect(Netlink.index(of: "twmq0") == nil, "closing every queue removes the device")
    }

    @Test func routesThroughNetlink() throws {
        let tun = try TunDeviceTests.makeTun("twrt0", subnet: 40)
        defer { tun.close() }
        let nl = try Netlink()
        let net = IPv4Subnet("10.78.0.0/16")!
        try nl.addRoute(net, device: tun.name)
        #expect(sh("ip route show 10.78.0.0/16").output.contains("dev twrt0"))
        try nl.deleteRoute(net, device: tun.name)
        #expect(!sh("ip route show 10.78.0.0/16").output.contains("twrt0"))
        try nl.deleteRoute(net, device: tun.name)
    }
}

@Suite struct EngineSelectionTests {
    @Test func autoPicksUringHereAndExplainsWhy() throws {
        let choice = try IOEngineSelector.choose(.auto)
        #expect(!choice.reason.isEmpty)
        if (try? Ring.probeCapabilities()) != nil { #expect(choice.kind == .uring) }
        #expect(try IOEngineSelector.choose(.syscalls).kind == .syscalls)
    }

    @Test(.enabled(if: geteuid() == 0, "seccomp filter install"))
    func seccompDeniedIoUringFallsBackToSyscalls() throws {
        let r = sh("\(binaryPath("twill-noring")) --self-test 300")
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("engine=syscalls"))
        #expect(r.output.contains("EPERM"))
        #expect(r.output.contains("moved=300 of 300"))
    }
}
