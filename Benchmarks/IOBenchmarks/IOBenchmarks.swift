// Packet I/O microbenchmarks: UDP datagrams through each engine at several batch sizes, TUN reads and
// writes, and mallocs per packet in steady state. Every benchmark iteration moves `packetsPerIteration`
// packets, so wall clock / packetsPerIteration is the cost of one packet, and mallocs per iteration /
// packetsPerIteration is mallocs per packet.
//
// TUN benchmarks create a device, so run inside a network namespace: scripts/microbench.sh does.
import Benchmark
import Glibc
import TwillIO
import TwillWire

let packetsPerIteration = 4096

/// Sends a batch to its own socket and receives it back, until `packetsPerIteration` have come back.
struct UDPRoundTrip: PacketIOUser {
    let batch: Int
    let size: Int
    let destination: SocketAddress
    let benchmark: Benchmark
    var lost = 0

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var out = PacketBatch(capacity: batch, pool: io.pool)
        var incoming = PacketBatch(capacity: batch, pool: io.pool)
        func one(_ io: inout IO) -> Int {
            var moved = 0
            while moved < packetsPerIteration {
                while !out.isFull && out.appendFromPool(offset: 0, length: size) {
                    out.setAddress(out.count - 1, destination)
                }
                _ = try? io.sendUDP(out)
                out.removeAll()
                var got = 0
                var tries = 0
                while got < batch && tries < 20 {
                    incoming.removeAll()
                    got += (try? io.receiveUDP(into: &incoming, timeoutMilliseconds: 5)) ?? 0
                    tries += 1
                }
                incoming.removeAll()
                lost += max(0, batch - got)
                moved += batch
            }
            return moved
        }
        _ = one(&io)  // warm up: buffer rings stocked, pages touched
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(one(&io)) }
        benchmark.stopMeasurement()
    }
}

/// The offload path's UDP half: 64 KB messages of 44 datagrams sent with UDP_SEGMENT from an
/// `IOVectorBatch` to its own socket, received with UDP_GRO and counted by segment size.
struct UDPGSORoundTrip: PacketIOUser {
    static let segment = 1472
    static let segments = 44
    static let messages = 4
    let destination: SocketAddress
    let benchmark: Benchmark
    var lost = 0

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let payload = UnsafeMutableRawPointer.allocate(byteCount: Self.segment * Self.segments, alignment: 64)
        defer { payload.deallocate() }
        payload.initializeMemory(as: UInt8.self, repeating: 0x5a, count: Self.segment * Self.segments)
        var out = IOVectorBatch(messages: Self.messages, vectors: Self.messages)
        var incoming = PacketBatch(capacity: 16, pool: io.pool)
        let perRound = Self.messages * Self.segments
        func one(_ io: inout IO) -> Int {
            var moved = 0
            while moved < packetsPerIteration {
                out.removeAll()
                for _ in 0..<Self.messages {
                    _ = out.begin(to: destination, segmentSize: Self.segment)
                    _ = out.append(payload, Self.segment * Self.segments)
                    out.finish()
                }
                _ = try? io.sendUDP(out)
                var got = 0
                var tries = 0
                while got < perRound && tries < 20 {
                    incoming.removeAll()
                    _ = try? io.receiveUDP(into: &incoming, timeoutMilliseconds: 5)
                    for i in 0..<incoming.count {
                        let size = incoming.segmentSize(i)
                        got += size > 0 ? (incoming.length(i) + size - 1) / size : 1
                    }
                    tries += 1
                }
                incoming.removeAll()
                lost += max(0, perRound - got)
                moved += perRound
            }
            return moved
        }
        _ = one(&io)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(one(&io)) }
        benchmark.stopMeasurement()
    }
}

/// Writes batches of IPv4/UDP packets into the TUN (the kernel routes and drops them).
struct TunWrites: PacketIOUser {
    let batch: Int
    let benchmark: Benchmark

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var out = PacketBatch(capacity: batch, pool: io.pool)
        let headroom = io.pool.headroom
        while !out.isFull && out.appendFromPool(offset: headroom, length: 1400) {
            let p = out.packet(out.count - 1)
            try? IPv4Repr(source: IPv4Address(10, 66, 0, 2), destination: IPv4Address(10, 67, 0, 1), proto: IPProtocol.udp,
                          payloadLength: 1380).emit(into: p)
            try? UDPRepr(sourcePort: 1, destinationPort: 9, payloadLength: 1372)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: p[20...]))
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var written = 0
            while written < packetsPerIteration { written += (try? io.writeTun(out)) ?? batch }
            blackHole(written)
        }
        benchmark.stopMeasurement()
    }
}

/// Sends datagrams into a route through the TUN (sendmmsg on a plain socket) and reads them back
/// through the engine.
struct TunReads: PacketIOUser {
    let batch: Int
    let sender: UDPSocket
    let target: SocketAddress
    let benchmark: Benchmark
    var lost = 0

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        let sendPool = try! PacketPool(slotSize: 2048, count: batch)
        // Batches and engines hold their pool unowned: keep it alive until they are gone.
        withExtendedLifetime(sendPool) {
            var sendIO = try! SyscallPacketIO(PacketIOConfiguration(udpFD: sender.fd, batchSize: batch), pool: sendPool)
            var out = PacketBatch(capacity: batch, pool: sendPool)
            while !out.isFull && out.appendFromPool(offset: 0, length: 1372) { out.setAddress(out.count - 1, target) }
            var incoming = PacketBatch(capacity: batch, pool: io.pool)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var moved = 0
                while moved < packetsPerIteration {
                    _ = try? sendIO.sendUDP(out)
                    var got = 0
                    var tries = 0
                    while got < batch && tries < 20 {
                        incoming.removeAll()
                        got += (try? io.readTun(into: &incoming, timeoutMilliseconds: 5)) ?? 0
                        tries += 1
                    }
                    incoming.removeAll()
                    lost += max(0, batch - got)
                    moved += batch
                }
                blackHole(moved)
            }
            benchmark.stopMeasurement()
        }
    }
}

let engines: [(name: String, choice: IOEngineChoice)] = IOEngineKind.allCases.compactMap { kind in
    (try? IOEngineSelector.choose(kind == .uring ? .uring : .syscalls)).map { (kind.rawValue, $0) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 2,
        maxDuration: .seconds(2),
        maxIterations: 200)

    for (name, choice) in engines {
        for size in [64, 1400] {
            for batch in [1, 8, 32, 128] {
                Benchmark("udp \(name) \(size)B batch \(batch) (per \(packetsPerIteration) packets)") { benchmark in
                    let socket = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0, bufferSize: 8 << 20)
                    let pool = try PacketPool(slotSize: 2048, count: 2048)
                    var user = UDPRoundTrip(batch: batch, size: size, destination: socket.localAddress, benchmark: benchmark)
                    try choice.open(PacketIOConfiguration(udpFD: socket.fd, batchSize: batch), pool: pool, user: &user)
                    if user.lost > 0 { print("udp \(name) \(size)B batch \(batch): \(user.lost) datagrams lost") }
                }
            }
        }
    }

    for (name, choice) in engines {
        Benchmark("udp \(name) 1472B GSO 44 per send + GRO (per \(packetsPerIteration) datagrams)") { benchmark in
            let socket = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0, bufferSize: 8 << 20)
            let granted = OffloadProbe.enableSockets([.udpGSO, .udpGRO], sockets: [socket.fd])
            guard granted.enabled == [.udpGSO, .udpGRO] else {
                print("UDP GSO/GRO benchmark skipped: \(granted.refused)")
                return
            }
            let pool = try PacketPool(slotSize: 65536 + 256, count: 64)
            var user = UDPGSORoundTrip(destination: socket.localAddress, benchmark: benchmark)
            try choice.open(PacketIOConfiguration(udpFD: socket.fd, batchSize: 16, udpGRO: true), pool: pool, user: &user)
            if user.lost > 0 { print("udp \(name) GSO/GRO: \(user.lost) datagrams lost") }
        }
    }

    // TUN benchmarks need a device: only when the namespace allows creating one.
    guard let tun = try? TunDevice(name: "twbench0"), let nl = try? Netlink(),
          (try? nl.setLink(tun.name, up: true, mtu: 1500)) != nil,
          (try? nl.addAddress(IPv4Address(10, 66, 0, 1), prefixLength: 24, to: tun.name)) != nil else {
        print("TUN benchmarks skipped: run inside a network namespace as root (scripts/microbench.sh)")
        return
    }
    let sender = try! UDPSocket(bind: .v4(IPv4Address(10, 66, 0, 1)), port: 0, bufferSize: 8 << 20)
    for (name, choice) in engines {
        for batch in [1, 32, 128] {
            Benchmark("tun write \(name) 1400B batch \(batch) (per \(packetsPerIteration) packets)") { benchmark in
                let pool = try PacketPool(slotSize: 2048, count: 1024)
                var user = TunWrites(batch: batch, benchmark: benchmark)
                try choice.open(PacketIOConfiguration(tunFD: tun.queues[0], batchSize: batch), pool: pool, user: &user)
            }
            Benchmark("tun read \(name) 1400B batch \(batch) (per \(packetsPerIteration) packets, incl. sendmmsg into it)") { benchmark in
                let pool = try PacketPool(slotSize: 2048, count: 2048)
                var user = TunReads(batch: batch, sender: sender, target: SocketAddress(.v4(IPv4Address(10, 66, 0, 2)), port: 9),
                                    benchmark: benchmark)
                try choice.open(PacketIOConfiguration(tunFD: tun.queues[0], batchSize: batch), pool: pool, user: &user)
                if user.lost > 0 { print("tun read \(name) batch \(batch): \(user.lost) packets lost") }
            }
        }
    }
}
