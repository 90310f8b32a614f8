import TwillTestSupport
import Glibc
import Testing
import TwillIO
import TwillWire

/// Sends `count` datagrams of varied length to its own socket through the engine, in batches of
/// `batch`, and checks every byte that comes back.
struct LoopbackRoundTrip: PacketIOUser {
    let count: Int
    let batch: Int
    let destination: SocketAddress
    var received = 0
    var corrupt = 0
    var seen: [Bool]

    init(count: Int, batch: Int, destination: SocketAddress) {
        self.count = count
        self.batch = batch
        self.destination = destination
        seen = Array(repeating: false, count: count)
    }

    static func length(_ i: Int) -> Int { 8 + (i &* 7919) % 1393 }

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var sent = 0
        var out = PacketBatch(capacity: batch, pool: io.pool)
        var incoming = PacketBatch(capacity: batch, pool: io.pool)
        let deadline = ContinuousClock.now + .seconds(10)
        while received < count && ContinuousClock.now < deadline {
            if sent < count {
                while sent < count && !out.isFull {
                    let len = LoopbackRoundTrip.length(sent)
                    guard out.appendFromPool(offset: 0, length: len) else { break }
                    let p = out.packet(out.count - 1)
                    p.storeBytes(of: UInt32(sent).bigEndian, toByteOffset: 0, as: UInt32.self)
                    p.storeBytes(of: UInt32(len).bigEndian, toByteOffset: 4, as: UInt32.self)
                    for j in 8..<len { p[j] = UInt8(truncatingIfNeeded: sent &* 31 &+ j) }
                    out.setAddress(out.count - 1, destination)
                    sent += 1
                }
                _ = try? io.sendUDP(out)
                out.removeAll()
            }
            // Drain what has arrived before sending more, so the socket buffer never overflows.
            repeat {
                incoming.removeAll()
                _ = try? io.receiveUDP(into: &incoming, timeoutMilliseconds: 50)
                for i in 0..<incoming.count { check(incoming.packet(i)) }
            } while incoming.count > 0 && received < count
        }
        incoming.removeAll()
    }

    mutating func check(_ p: UnsafeMutableRawBufferPointer) {
        guard p.count >= 8 else { corrupt += 1; return }
        let i = Int(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let len = Int(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard i < count, len == p.count, len == LoopbackRoundTrip.length(i), !seen[i],
              (8..<len).allSatisfy({ p[$0] == UInt8(truncatingIfNeeded: i &* 31 &+ $0) }) else {
            corrupt += 1
            return
        }
        seen[i] = true
        received += 1
    }
}

@Suite(.serialized) struct UDPBatchTests {
    @Test(arguments: EngineVariant.allCases, [1, 8, 32, 128, 1024])
    func ipv4BatchesRoundTrip(engine: EngineVariant, batch: Int) throws {
        try roundTrip(engine: engine, batch: batch, address: .v4(IPv4Address(127, 0, 0, 1)))
    }

    @Test(arguments: EngineVariant.allCases, [1, 64, 1024])
    func ipv6BatchesRoundTrip(engine: EngineVariant, batch: Int) throws {
        // A fresh namespace may have IPv6 disabled on lo; skip only then.
        guard let probe = try? UDPSocket(bind: .v6(IPv6Address("::1")!), port: 0) else { return }
        _ = probe
        try roundTrip(engine: engine, batch: batch, address: .v6(IPv6Address("::1")!))
    }

    func roundTrip(engine: EngineVariant, batch: Int, address: IPAddress) throws {
        let socket = try UDPSocket(bind: address, port: 0)
        let pool = try PacketPool(slotSize: 2048, count: 4096)
        let total = max(batch * 3, 64)
        var user = LoopbackRoundTrip(count: total, batch: batch, destination: socket.localAddress)
        try engine.choice().open(engine.configuration(udpFD: socket.fd, batchSize: batch), pool: pool, user: &user)
        #expect(user.corrupt == 0)
        #expect(user.received == total)
        #expect(pool.available == pool.capacity, "every slot is back after the engine is gone")
    }

    @Test func socketBuffersAreLarge() throws {
        let s = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0, bufferSize: 4 << 20)
        if geteuid() == 0 { #expect(s.receiveBufferSize >= 4 << 20) }
        #expect(s.port != 0)
    }

    @Test func reusePortSharesThePort() throws {
        let a = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0, reusePort: true)
        let b = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: a.port, reusePort: true)
        #expect(a.port == b.port)
    }
}
