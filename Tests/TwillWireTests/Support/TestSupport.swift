import Testing
import TwillTestSupport
@testable import TwillWire

// Shared helpers for the wire tests: a seeded generator (failures reproduce from the seed), byte
// buffers, a reference checksum and a generator of random valid IPv4/IPv6 packets.


extension RandomNumberGenerator {
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
}

/// Runs `body` over a fresh heap copy of `bytes`, sized exactly, so a view cannot lean on spare capacity.
func withBytes<R, E: Error>(_ bytes: [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
    defer { raw.deallocate() }
    raw.copyBytes(from: bytes)
    return try body(raw)
}

/// The WireError `body` throws, or nil when it returns.
func wireError<T>(_ body: () throws(WireError) -> T) -> WireError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// RFC 1071 the slow way: big-endian byte pairs, a zero pad byte at an odd end, folded. The reference
/// the fast `InternetChecksum.sum` is checked against.
func referenceSum(_ bytes: some Collection<UInt8>, initial: UInt32 = 0) -> UInt32 {
    var s = UInt64(initial)
    var hi: UInt8? = nil
    for b in bytes {
        if let h = hi {
            s += UInt64(h) << 8 | UInt64(b)
            hi = nil
        } else {
            hi = b
        }
    }
    if let h = hi { s += UInt64(h) << 8 }
    while s > 0xffff { s = (s >> 16) + (s & 0xffff) }
    return UInt32(s)
}

/// Checksum field value by the reference.
func referenceChecksum(_ bytes: some Collection<UInt8>, initial: UInt32 = 0) -> UInt16 {
    ~UInt16(referenceSum(bytes, initial: initial))
}

/// IPv4 pseudo-header bytes, spelled out, for the reference sum.
func pseudoHeader(_ s: IPv4Address, _ d: IPv4Address, proto: UInt8, length: Int) -> [UInt8] {
    be32(s.value) + be32(d.value) + [0, proto] + be16(UInt16(length))
}

/// IPv6 pseudo-header bytes (RFC 8200 8.1).
func pseudoHeader(_ s: IPv6Address, _ d: IPv6Address, proto: UInt8, length: Int) -> [UInt8] {
    be64(s.high) + be64(s.low) + be64(d.high) + be64(d.low) + be32(UInt32(length)) + [0, 0, 0, proto]
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xffff)) }
func be64(_ v: UInt64) -> [UInt8] { be32(UInt32(v >> 32)) + be32(UInt32(v & 0xffff_ffff)) }
func readBE16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }

/// Literal packets whose checksums an independent decoder (Wireshark 4.0) reported as correct.
enum KnownPackets {
    static let v4Source = IPv4Address(10, 244, 1, 2)
    static let v4Destination = IPv4Address(10, 244, 2, 3)
    static let v6Source = IPv6Address(high: 0xfd00_0000_0000_0000, low: 1)
    static let v6Destination = IPv6Address(high: 0xfd00_0000_0000_0000, low: 2)

    /// 10.244.1.2:40000 -> 10.244.2.3:53, UDP "twill!", IP checksum 0x0599, UDP checksum 0x006b.
    static let ipv4UDP: [UInt8] = [
        0x45, 0x00, 0x00, 0x22, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x05, 0x99, 0x0a, 0xf4, 0x01, 0x02,
        0x0a, 0xf4, 0x02, 0x03,
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x0e, 0x00, 0x6b, 0x74, 0x77, 0x69, 0x6c, 0x6c, 0x21,
    ]
    /// 10.244.1.2:51000 -> 10.244.2.3:80, TCP SYN with MSS 1460, TCP checksum 0xb3ab.
    static let ipv4TCP: [UInt8] = [
        0x45, 0x00, 0x00, 0x2c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x05, 0x9a, 0x0a, 0xf4, 0x01, 0x02,
        0x0a, 0xf4, 0x02, 0x03,
        0xc7, 0x38, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xff, 0xff,
        0xb3, 0xab, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ]
    /// [fd00::1]:40000 -> [fd00::2]:53, UDP "twill!", UDP checksum 0x1f53.
    static let ipv6UDP: [UInt8] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x11, 0x40,
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x0e, 0x1f, 0x53, 0x74, 0x77, 0x69, 0x6c, 0x6c, 0x21,
    ]
    /// [fd00::1]:51000 -> [fd00::2]:443, TCP PSH|ACK "hi", TCP checksum 0x684b.
    static let ipv6TCP: [UInt8] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x16, 0x06, 0x40,
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0xc7, 0x38, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0x50, 0x18, 0x02, 0x00,
        0x68, 0x4b, 0x00, 0x00, 0x68, 0x69,
    ]
}

/// A random valid packet and what a parser must find in it.
struct GeneratedPacket {
    var bytes: [UInt8]
    var expected: IPPacketInfo
    /// Where the IPv4 options end / the IPv6 extension chain ends.
    var headerLength: Int
    var version: UInt8 { expected.version }
}

/// Builds random valid IPv4 and IPv6 packets. The expected fields come from the choices made here,
/// never from the code under test.
enum PacketFactory {
    static func random<G: RandomNumberGenerator>(using g: inout G, maxPayload: Int = 1500) -> GeneratedPacket {
        g.chance(0.5) ? ipv4(using: &g, maxPayload: maxPayload) : ipv6(using: &g, maxPayload: maxPayload)
    }

    /// Transport header bytes with the given ports for TCP/UDP, random otherwise.
    private static func transport<G: RandomNumberGenerator>(proto: UInt8, length: Int, sport: UInt16, dport: UInt16,
                                                            using g: inout G) -> [UInt8] {
        var t = g.bytes(length)
        if proto == IPProtocol.tcp || proto == IPProtocol.udp {
            let ports = be16(sport) + be16(dport)
            for i in 0..<min(4, length) { t[i] = ports[i] }
            if proto == IPProtocol.udp && length >= 8 {
                let l = be16(UInt16(length))
                t[4] = l[0]
                t[5] = l[1]
            }
            if proto == IPProtocol.tcp && length >= 20 { t[12] = 5 << 4 }
        }
        return t
    }

    private static func randomProto<G: RandomNumberGenerator>(using g: inout G, icmp: UInt8) -> UInt8 {
        switch Int.random(in: 0..<10, using: &g) {
        case 0..<4: IPProtocol.tcp
        case 4..<7: IPProtocol.udp
        case 7: icmp
        case 8: 47 // GRE: something the datapath only forwards
        default: 132 // SCTP: has ports, but not ones Twill reads
        }
    }

    static func ipv4<G: RandomNumberGenerator>(using g: inout G, maxPayload: Int = 1500) -> GeneratedPacket {
        let optionWords = g.chance(0.6) ? 0 : Int.random(in: 1...10, using: &g)
        let hl = 20 + optionWords * 4
        let proto = randomProto(using: &g, icmp: IPProtocol.icmp)
        let payloadLength = Int.random(in: 0...maxPayload, using: &g)
        let sport = UInt16.random(in: 1...65535, using: &g)
        let dport = UInt16.random(in: 1...65535, using: &g)
        // About one in eight is a fragment: then ports are not read (later fragments have none).
        var frag: UInt16 = g.chance(0.5) ? 0x4000 : 0
        let fragment = g.chance(0.125)
        if fragment {
            frag = g.chance(0.5) ? 0x2000 : 0
            frag |= g.chance(0.3) && frag != 0 ? 0 : UInt16.random(in: 1...0x1fff, using: &g)
        }
        let src = IPv4Address(UInt32.random(in: 0...UInt32.max, using: &g))
        let dst = IPv4Address(UInt32.random(in: 0...UInt32.max, using: &g))
        let total = hl + payloadLength
        var b: [UInt8] = [0x40 | UInt8(hl / 4), UInt8.random(in: 0...255, using: &g)] + be16(UInt16(total))
        b += be16(UInt16.random(in: 0...65535, using: &g)) + be16(frag)
        b += [UInt8.random(in: 1...255, using: &g), proto, 0, 0] + be32(src.value) + be32(dst.value)
        b += g.bytes(optionWords * 4)
        let c = referenceChecksum(b)
        b[10] = UInt8(c >> 8)
        b[11] = UInt8(c & 0xff)
        b += transport(proto: proto, length: payloadLength, sport: sport, dport: dport, using: &g)
        let hasPorts = !fragment && (proto == IPProtocol.tcp || proto == IPProtocol.udp) && payloadLength >= 4
        let info = IPPacketInfo(version: 4, source: .v4(src), destination: .v4(dst), length: total, proto: proto,
                                sourcePort: hasPorts ? sport : 0, destinationPort: hasPorts ? dport : 0)
        return GeneratedPacket(bytes: b, expected: info, headerLength: hl)
    }

    /// An IPv6 packet with 0...maxExtensions extension headers in front of the transport.
    static func ipv6<G: RandomNumberGenerator>(using g: inout G, maxPayload: Int = 1500,
                                               maxExtensions: Int = 4) -> GeneratedPacket {
        let count = g.chance(0.4) ? 0 : Int.random(in: 1...maxExtensions, using: &g)
        var kinds: [UInt8] = []
        for i in 0..<count {
            let choices: [UInt8] = i == 0
                ? [IPProtocol.hopByHop, IPProtocol.routing, IPProtocol.destinationOptions, IPProtocol.fragment,
                   IPProtocol.authentication]
                : [IPProtocol.routing, IPProtocol.destinationOptions, IPProtocol.fragment, IPProtocol.authentication]
            kinds.append(choices.randomElement(using: &g)!)
        }
        var final = randomProto(using: &g, icmp: IPProtocol.icmpv6)
        if g.chance(0.05) { final = IPProtocol.noNextHeader }
        // A later fragment hides the transport.
        let laterFragment = kinds.contains(IPProtocol.fragment) && g.chance(0.3)
        var chain: [UInt8] = []
        // Any fragment (MF set or a non-zero offset) reports noNextHeader and no ports; a fragment
        // header with neither (an atomic fragment) leaves the packet whole.
        var fragmented = laterFragment
        for (i, kind) in kinds.enumerated() {
            let next = i + 1 < kinds.count ? kinds[i + 1] : final
            switch kind {
            case IPProtocol.fragment:
                let isTheLaterOne = laterFragment && kinds.firstIndex(of: IPProtocol.fragment) == i
                let offset: UInt16 = isTheLaterOne ? UInt16.random(in: 1...0x1fff, using: &g) : 0
                let more: UInt16 = g.chance(0.5) ? 1 : 0
                if more == 1 { fragmented = true }
                chain += [next, 0] + be16(offset << 3 | more) + g.bytes(4)
            case IPProtocol.authentication:
                let words = Int.random(in: 1...6, using: &g) // length field; header is (n + 2) * 4 bytes
                chain += [next, UInt8(words)] + g.bytes((words + 2) * 4 - 2)
            default:
                let units = Int.random(in: 0...3, using: &g) // header is (n + 1) * 8 bytes
                chain += [next, UInt8(units)] + g.bytes((units + 1) * 8 - 2)
            }
        }
        let payloadLength = Int.random(in: 0...maxPayload, using: &g)
        let sport = UInt16.random(in: 1...65535, using: &g)
        let dport = UInt16.random(in: 1...65535, using: &g)
        let src = IPv6Address(high: UInt64.random(in: 0...UInt64.max, using: &g) & ~(0xff << 56),
                              low: UInt64.random(in: 0...UInt64.max, using: &g))
        let dst = IPv6Address(high: UInt64.random(in: 0...UInt64.max, using: &g),
                              low: UInt64.random(in: 0...UInt64.max, using: &g))
        let first = kinds.first ?? final
        let plen = chain.count + payloadLength
        var b = be32(6 << 28 | UInt32.random(in: 0...0x0fff_ffff, using: &g)) + be16(UInt16(plen))
        b += [first, UInt8.random(in: 0...255, using: &g)] + be64(src.high) + be64(src.low) + be64(dst.high) + be64(dst.low)
        b += chain
        b += transport(proto: final, length: payloadLength, sport: sport, dport: dport, using: &g)
        let proto = fragmented ? IPProtocol.noNextHeader : final
        let hasPorts = !fragmented && (final == IPProtocol.tcp || final == IPProtocol.udp) && payloadLength >= 4
        let info = IPPacketInfo(version: 6, source: .v6(src), destination: .v6(dst), length: 40 + plen, proto: proto,
                                sourcePort: hasPorts ? sport : 0, destinationPort: hasPorts ? dport : 0)
        return GeneratedPacket(bytes: b, expected: info, headerLength: 40 + chain.count)
    }
}

extension IPPacketInfo {
    /// Memberwise, for expected values (the library has none public).
    init(version: UInt8, source: IPAddress, destination: IPAddress, length: Int, proto: UInt8,
         sourcePort: UInt16, destinationPort: UInt16) {
        self = try! withBytes(version == 4 ? KnownPackets.ipv4UDP : KnownPackets.ipv6UDP) { b throws(WireError) in
            try IPPacketInfo(parsing: b)
        }
        self.version = version
        self.source = source
        self.destination = destination
        self.length = length
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }
}

/// The VXLAN format's bytes in front of an inner packet, built by hand for decapsulation tests.
func vxlanPrefix(flags: UInt8 = 0x08, vni: UInt32, destination: MACAddress, source: MACAddress,
                 etherType: UInt16) -> [UInt8] {
    [flags, 0, 0, 0] + be32(vni << 8) + macBytes(destination) + macBytes(source) + be16(etherType)
}

func macBytes(_ m: MACAddress) -> [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: m.value >> (40 - 8 * UInt64($0))) } }
