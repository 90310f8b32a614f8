import TwillTestSupport
@testable import TwillWire

// Packets for the segmentation and coalescing tests, spelled out field by field, and checks of what
// the code writes. Every checksum here comes from the byte-pair `referenceSum`, never from
// `InternetChecksum`, so the code under test is not its own judge.

/// What a built packet carries in its TCP/UDP checksum field.
enum TransportChecksum {
    /// The complete checksum (for UDP, a computed 0 sent as 0xffff).
    case valid
    /// The folded pseudo-header sum, as a sender asking for NEEDS_CSUM leaves it.
    case partial
    case literal(UInt16)
}

/// A TCP or UDP packet over IPv4 or IPv6. The defaults are one plain ACK segment of
/// 10.244.1.2:51000 -> 10.244.2.3:80 with DF set.
struct TestPacket {
    var version: UInt8 = 4
    /// IPv4 TOS or IPv6 traffic class.
    var tos: UInt8 = 0
    var flowLabel: UInt32 = 0x12345
    var identification: UInt16 = 0x1c46
    /// IPv4 flags and fragment offset.
    var fragment: UInt16 = 0x4000
    /// IPv4 TTL or IPv6 hop limit.
    var ttl: UInt8 = 64
    /// IPv4 options, a multiple of 4 bytes.
    var ipOptions: [UInt8] = []
    /// IPv6 extension headers, announced as Destination Options; their first byte names the transport.
    var ipv6Extensions: [UInt8] = []
    var udp = false
    var source4 = KnownPackets.v4Source
    var destination4 = KnownPackets.v4Destination
    var source6 = KnownPackets.v6Source
    var destination6 = KnownPackets.v6Destination
    var sourcePort: UInt16 = 51000
    var destinationPort: UInt16 = 80
    var sequence: UInt32 = 0x0102_0304
    var acknowledgment: UInt32 = 0x0a0b_0c0d
    var flags: UInt8 = TCPFlags.ack
    /// The low nibble of the data offset byte: reserved bits, AccECN's AE.
    var reserved: UInt8 = 0
    var window: UInt16 = 0x01f5
    var urgent: UInt16 = 0
    /// TCP options, a multiple of 4 bytes.
    var tcpOptions: [UInt8] = []
    var payload: [UInt8] = []

    var ipHeaderLength: Int { version == 4 ? 20 + ipOptions.count : 40 + ipv6Extensions.count }
    var transportHeaderLength: Int { udp ? 8 : 20 + tcpOptions.count }
    var headerLength: Int { ipHeaderLength + transportHeaderLength }
    var proto: UInt8 { udp ? IPProtocol.udp : IPProtocol.tcp }
    /// Where the transport checksum field is, from the start of the packet.
    var checksumOffset: Int { ipHeaderLength + (udp ? 6 : 16) }

    func bytes(checksum: TransportChecksum = .valid) -> [UInt8] {
        let l4Length = transportHeaderLength + payload.count
        var ip: [UInt8]
        if version == 4 {
            ip = [0x40 | UInt8(ipHeaderLength / 4), tos] + be16(UInt16(ipHeaderLength + l4Length)) + be16(identification)
            ip += be16(fragment) + [ttl, proto, 0, 0] + be32(source4.value) + be32(destination4.value) + ipOptions
            let c = referenceChecksum(ip)
            ip[10] = UInt8(c >> 8)
            ip[11] = UInt8(c & 0xff)
        } else {
            ip = be32(6 << 28 | UInt32(tos) << 20 | flowLabel) + be16(UInt16(ipv6Extensions.count + l4Length))
            ip += [ipv6Extensions.isEmpty ? proto : IPProtocol.destinationOptions, ttl]
            ip += be64(source6.high) + be64(source6.low) + be64(destination6.high) + be64(destination6.low) + ipv6Extensions
        }
        var t: [UInt8]
        if udp {
            t = be16(sourcePort) + be16(destinationPort) + be16(UInt16(l4Length)) + [0, 0]
        } else {
            t = be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment)
            t += [UInt8(transportHeaderLength / 4) << 4 | reserved, flags] + be16(window) + [0, 0] + be16(urgent) + tcpOptions
        }
        let pseudo = version == 4
            ? pseudoHeader(source4, destination4, proto: proto, length: l4Length)
            : pseudoHeader(source6, destination6, proto: proto, length: l4Length)
        let value: UInt16
        switch checksum {
        case .valid:
            let c = referenceChecksum(pseudo + t + payload)
            value = udp && c == 0 ? 0xffff : c
        case .partial:
            value = UInt16(referenceSum(pseudo))
        case .literal(let v):
            value = v
        }
        let at = udp ? 6 : 16
        t[at] = UInt8(value >> 8)
        t[at + 1] = UInt8(value & 0xff)
        return ip + t + payload
    }
}

/// TCP options as Linux sends them on data segments: NOP, NOP, timestamps (data offset 8).
let timestampOptions: [UInt8] = [0x01, 0x01, 0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]

/// Payload bytes that differ from their neighbours (k * 31 + 7), so a misplaced byte shows.
func patternBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
}

func readBE32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(readBE16(b, i)) << 16 | UInt32(readBE16(b, i + 2)) }
func readBE64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(readBE32(b, i)) << 32 | UInt64(readBE32(b, i + 4)) }

/// The IPv4 header checksum verifies (the header sums to 0xffff).
func ipv4HeaderChecksumIsValid(_ packet: [UInt8]) -> Bool {
    referenceSum(packet[0..<(Int(packet[0] & 0x0f) * 4)]) == 0xffff
}

/// The TCP/UDP checksum of `packet` (transport at `transportOffset`) verifies with its pseudo-header,
/// whose addresses and length come from the packet itself.
func transportChecksumIsValid(_ packet: [UInt8], transportOffset: Int, proto: UInt8) -> Bool {
    referenceSum(packet[transportOffset...], initial: referenceSum(pseudoHeader(of: packet, transportOffset: transportOffset,
                                                                                 proto: proto))) == 0xffff
}

/// The pseudo-header of `packet`: its addresses, `proto`, and the bytes from `transportOffset` on.
func pseudoHeader(of packet: [UInt8], transportOffset: Int, proto: UInt8) -> [UInt8] {
    let length = packet.count - transportOffset
    return packet[0] >> 4 == 4
        ? pseudoHeader(IPv4Address(readBE32(packet, 12)), IPv4Address(readBE32(packet, 16)), proto: proto, length: length)
        : pseudoHeader(IPv6Address(high: readBE64(packet, 8), low: readBE64(packet, 16)),
                       IPv6Address(high: readBE64(packet, 24), low: readBE64(packet, 32)), proto: proto, length: length)
}

/// Finishes a NEEDS_CSUM checksum the way the kernel does: the sum from `start` to the end, which
/// includes the pseudo-header sum left in the field, complemented into the field.
func completedByReference(_ packet: [UInt8], start: Int, offset: Int) -> [UInt8] {
    var p = packet
    let c = referenceChecksum(packet[start...])
    p[start + offset] = UInt8(c >> 8)
    p[start + offset + 1] = UInt8(c & 0xff)
    return p
}

/// Checks `bytes` as a superpacket described by `header` and hands it to `body`.
func withSuperpacket<R>(_ bytes: [UInt8], _ header: VirtioNetHeader,
                        _ body: (Superpacket) -> R) throws(WireError) -> R {
    try withBytes(bytes) { b throws(WireError) in body(try Superpacket(packet: UnsafeRawBufferPointer(b), header: header)) }
}

/// Every segment as it goes on the wire: the headers `writeHeaders` writes (into a buffer of exactly
/// `headerLength` bytes), then the payload.
func materializedSegments(_ sp: Superpacket) -> [[UInt8]] {
    (0..<sp.segmentCount).map { i in
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: sp.headerLength, alignment: 1)
        defer { out.deallocate() }
        sp.writeHeaders(i, into: out.baseAddress!)
        return Array(out) + Array(sp.payload(i))
    }
}

/// The virtio_net_hdr of a TSO/USO superpacket built from `p`.
func gsoHeader(for p: TestPacket, gsoSize: Int, gsoType: UInt8? = nil) -> VirtioNetHeader {
    let type = gsoType ?? (p.udp ? VirtioNetHeader.gsoUDPL4 : p.version == 4 ? VirtioNetHeader.gsoTCPv4 : VirtioNetHeader.gsoTCPv6)
    return VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum, gsoType: type, headerLength: UInt16(p.headerLength),
                           gsoSize: UInt16(gsoSize), checksumStart: UInt16(p.ipHeaderLength),
                           checksumOffset: p.udp ? 6 : 16)
}

/// A packet the coalescer writes: its virtio header and the IP packet (header plus payloads).
struct CoalescedPacket: Equatable {
    var vnet: VirtioNetHeader
    var bytes: [UInt8]
}

/// Feeds `packets` to a `TCPRun` the way the ingress loop does: a segment that cannot join closes the
/// open run; a packet that is no run segment goes out alone with a zero virtio header.
func coalesce(_ packets: [[UInt8]]) -> [CoalescedPacket] {
    let buffers = packets.map { p -> UnsafeMutableRawBufferPointer in
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: p.count, alignment: 16)
        b.copyBytes(from: p)
        return b
    }
    defer { buffers.forEach { $0.deallocate() } }
    var out: [CoalescedPacket] = []
    var run = TCPRun()
    var payloads: [UInt8] = []
    func close() {
        guard !run.isEmpty else { return }
        out.append(written(run, payloads: payloads))
        run.reset()
        payloads = []
    }
    for b in buffers {
        guard let s = TCPRunSegment(UnsafeRawBufferPointer(b)) else {
            close()
            out.append(CoalescedPacket(vnet: VirtioNetHeader(), bytes: Array(b)))
            continue
        }
        if run.isEmpty || !run.accepts(s) {
            close()
            run.start(s)
        } else {
            run.append(s)
        }
        payloads += Array(UnsafeRawBufferPointer(start: s.payload, count: s.payloadLength))
    }
    close()
    return out
}

/// What `writeHeader` writes for `run` (into a buffer of exactly `maximumHeaderLength` bytes), with the
/// run's payloads behind the header.
func written(_ run: TCPRun, payloads: [UInt8]) -> CoalescedPacket {
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: TCPRun.maximumHeaderLength, alignment: 1)
    defer { out.deallocate() }
    out.initializeMemory(as: UInt8.self, repeating: 0xee)
    let n = run.writeHeader(into: out.baseAddress!)
    let vnet = try! VirtioNetHeader(parsing: UnsafeRawBufferPointer(out))
    return CoalescedPacket(vnet: vnet, bytes: Array(out[VirtioNetHeader.length..<n]) + payloads)
}

/// `packet` with its TCP checksum recomputed by the reference, so that a test of some other field
/// is not refused for the checksum.
func withTransportChecksumFixed(_ packet: [UInt8], transportOffset t: Int, proto: UInt8 = IPProtocol.tcp) -> [UInt8] {
    let at = t + (proto == IPProtocol.udp ? 6 : 16)
    var p = packet
    p[at] = 0
    p[at + 1] = 0
    let c = referenceChecksum(p[t...], initial: referenceSum(pseudoHeader(of: p, transportOffset: t, proto: proto)))
    p[at] = UInt8(c >> 8)
    p[at + 1] = UInt8(c & 0xff)
    return p
}

/// `p` with its last two payload bytes (an even count of them) chosen so that the transport checksum
/// computes to 0: everything it covers, pseudo-header included, sums to 0xffff.
func withChecksumComputingToZero(_ p: TestPacket) -> TestPacket {
    precondition(p.payload.count >= 2 && p.payload.count % 2 == 0)
    var q = p
    let n = q.payload.count
    q.payload[n - 2] = 0
    q.payload[n - 1] = 0
    let bytes = q.bytes(checksum: .literal(0))
    let t = q.ipHeaderLength
    let sum = referenceSum(bytes[t...], initial: referenceSum(pseudoHeader(of: bytes, transportOffset: t, proto: q.proto)))
    let word = 0xffff - UInt16(sum)
    q.payload[n - 2] = UInt8(word >> 8)
    q.payload[n - 1] = UInt8(word & 0xff)
    return q
}
