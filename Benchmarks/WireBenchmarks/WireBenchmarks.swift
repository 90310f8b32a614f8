import Benchmark
import TwillWire

// Codec microbenchmarks. Every buffer is allocated and filled before `startMeasurement()`, so the
// measured loop does only codec work; each benchmark runs `scaledIterations` packets per sample and
// the tool divides by that count, so the table reads per packet (or per 64 KB checksum).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .mega,
        maxDuration: .seconds(2),
        maxIterations: 200
    )

    for format in EncapsulationFormat.allCases {
        for size in [64, 1400] {
            Benchmark("encap+decap IPv4 \(size) B \(format)") { benchmark in
                let packet = Packet(ipv4UDPOfLength: size)
                defer { packet.deallocate() }
                let encapsulator = Encapsulator(format: format, vni: 1, localMAC: localMAC)
                let decapsulator = Decapsulator(format: format, vni: 1, localMAC: peerMAC)
                let buffer = packet.buffer
                let end = packet.innerOffset + size
                var check = 0
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    do {
                        let start = try encapsulator.encapsulate(buffer, innerOffset: packet.innerOffset,
                                                                 innerLength: size, innerVersion: 4, peerMAC: peerMAC)
                        let d = try decapsulator.decapsulate(UnsafeMutableRawBufferPointer(rebasing: buffer[start..<end]))
                        check &+= d.offset &+ d.length
                    } catch {
                        fatalError("codec refused its own packet: \(error)")
                    }
                }
                benchmark.stopMeasurement()
                blackHole(check)
            }
        }
    }

    Benchmark("IPPacketInfo parse IPv4 TCP") { benchmark in
        let packet = Packet(ipv4UDPOfLength: 64, proto: 6)
        defer { packet.deallocate() }
        let inner = UnsafeMutableRawBufferPointer(rebasing: packet.buffer[packet.innerOffset..<(packet.innerOffset + 64)])
        var check: UInt32 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            do {
                let info = try IPPacketInfo(parsing: inner)
                check &+= UInt32(truncatingIfNeeded: info.length) &+ UInt32(info.sourcePort)
            } catch {
                fatalError("parse refused a valid packet: \(error)")
            }
        }
        benchmark.stopMeasurement()
        blackHole(check)
    }

    Benchmark("IPPacketInfo parse + flowHash + sourcePort") { benchmark in
        let packet = Packet(ipv4UDPOfLength: 64, proto: 6)
        defer { packet.deallocate() }
        let inner = UnsafeMutableRawBufferPointer(rebasing: packet.buffer[packet.innerOffset..<(packet.innerOffset + 64)])
        let encapsulator = Encapsulator(format: .vxlan)
        var check: UInt32 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            do {
                let info = try IPPacketInfo(parsing: inner)
                check &+= UInt32(encapsulator.sourcePort(flowHash: info.flowHash))
            } catch {
                fatalError("parse refused a valid packet: \(error)")
            }
        }
        benchmark.stopMeasurement()
        blackHole(check)
    }

    Benchmark("checksum 64 KB", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 64)
        defer { bytes.deallocate() }
        var seed: UInt32 = 0x1234_5678
        for i in 0..<bytes.count {
            seed = seed &* 1_103_515_245 &+ 12345
            bytes[i] = UInt8(truncatingIfNeeded: seed >> 16)
        }
        let view = UnsafeRawBufferPointer(bytes)
        var check: UInt32 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            check &+= InternetChecksum.sum(view, initial: check & 0xff)
        }
        benchmark.stopMeasurement()
        blackHole(check)
    }

    offloadBenchmarks()
}

let localMAC = MACAddress(0x0242_0af4_0100)
let peerMAC = MACAddress(0x0242_0af4_0200)

/// A pool-slot-like buffer: headroom, then one valid IPv4 packet.
struct Packet {
    let buffer: UnsafeMutableRawBufferPointer
    let innerOffset = EncapsulationFormat.maximumHeadroom

    init(ipv4UDPOfLength length: Int, proto: UInt8 = 17) {
        buffer = .allocate(byteCount: innerOffset + length, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5a)
        let ip = UnsafeMutableRawBufferPointer(rebasing: buffer[innerOffset...])
        do {
            try IPv4Repr(source: IPv4Address(10, 244, 1, 2), destination: IPv4Address(10, 244, 2, 3), proto: proto,
                         payloadLength: length - 20).emit(into: ip)
            let l4 = UnsafeMutableRawBufferPointer(rebasing: ip[20...])
            try UDPRepr(sourcePort: 40000, destinationPort: 5201, payloadLength: length - 28).emit(into: l4)
        } catch {
            fatalError("cannot build the benchmark packet: \(error)")
        }
    }

    func deallocate() { buffer.deallocate() }
}
