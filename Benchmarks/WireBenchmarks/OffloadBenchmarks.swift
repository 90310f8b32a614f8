import Benchmark
import TwillWire

// The offload path's per-byte work: cutting a 64 KB TCP superpacket into segments (headers and a
// checksum per segment) and merging the segments back into one run. Reported per segment.

/// A 64,000-byte-payload IPv4 TCP superpacket with timestamps, MSS 1398, as a TUN with TSO hands it.
private func superpacket() -> (bytes: UnsafeMutableRawBufferPointer, header: VirtioNetHeader) {
    let payload = 64_000
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 52 + payload, alignment: 64)
    bytes.initializeMemory(as: UInt8.self, repeating: 0)
    let header: [UInt8] = [
        0x45, 0, UInt8((52 + payload) >> 8), UInt8((52 + payload) & 0xff), 0x12, 0x34, 0x40, 0, 64, 6, 0, 0,
        10, 244, 1, 2, 10, 244, 2, 2,
        0x9c, 0x40, 0x14, 0x51, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x80, 0x18, 0x01, 0xf5, 0, 0, 0, 0,
        1, 1, 8, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0,
    ]
    for (i, b) in header.enumerated() { bytes[i] = b }
    for i in 52..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
    return (bytes, VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum, gsoType: VirtioNetHeader.gsoTCPv4,
                                   headerLength: 52, gsoSize: 1398, checksumStart: 20, checksumOffset: 16))
}

func offloadBenchmarks() {
    Benchmark("segment 64 KB TCP superpacket (per segment)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let (bytes, header) = superpacket()
        defer { bytes.deallocate() }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 64)
        defer { scratch.deallocate() }
        var check = 0
        var segments = 0
        benchmark.startMeasurement()
        // Each iteration is one segment; the superpacket is re-checked each time it starts over.
        var sp = try! Superpacket(packet: UnsafeRawBufferPointer(bytes), header: header)
        var i = 0
        for _ in benchmark.scaledIterations {
            if i == sp.segmentCount {
                sp = try! Superpacket(packet: UnsafeRawBufferPointer(bytes), header: header)
                i = 0
            }
            sp.writeHeaders(i, into: scratch)
            check &+= Int(scratch.load(fromByteOffset: 36, as: UInt16.self))
            i += 1
            segments += 1
        }
        benchmark.stopMeasurement()
        blackHole(check &+ segments)
    }

    Benchmark("coalesce TCP segments into a run (per segment)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let (bytes, header) = superpacket()
        defer { bytes.deallocate() }
        let sp = try! Superpacket(packet: UnsafeRawBufferPointer(bytes), header: header)
        // The segments as they arrive: each with its own headers, one after another.
        let stride = sp.headerLength + sp.segmentPayload
        let wire = UnsafeMutableRawPointer.allocate(byteCount: stride * sp.segmentCount, alignment: 64)
        defer { wire.deallocate() }
        for i in 0..<sp.segmentCount {
            sp.writeHeaders(i, into: wire + i * stride)
            (wire + i * stride + sp.headerLength).copyMemory(from: sp.payload(i).baseAddress!, byteCount: sp.payloadCount(i))
        }
        let out = UnsafeMutableRawPointer.allocate(byteCount: TCPRun.maximumHeaderLength, alignment: 64)
        defer { out.deallocate() }
        var run = TCPRun()
        var check = 0
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let length = sp.headerLength + sp.payloadCount(i)
            guard let s = TCPRunSegment(UnsafeRawBufferPointer(start: wire + i * stride, count: length)) else {
                fatalError("a valid segment was refused")
            }
            if !run.isEmpty && run.accepts(s) { run.append(s) } else { run.start(s) }
            i += 1
            if i == sp.segmentCount {
                check &+= run.writeHeader(into: out) &+ run.segments
                run.reset()
                i = 0
            }
        }
        benchmark.stopMeasurement()
        blackHole(check)
    }
}
