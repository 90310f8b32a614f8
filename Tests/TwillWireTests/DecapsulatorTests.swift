import TwillTestSupport
import Testing
@testable import TwillWire

@Suite("Decapsulator")
struct DecapsulatorTests {
    static let ourMAC = MACAddress(0x0242_0af4_0200)
    static let theirMAC = MACAddress(0x0242_0af4_0100)
    static let vxlan = Decapsulator(format: .vxlan, vni: 42, localMAC: ourMAC)
    static let udp = Decapsulator(format: .udp)

    /// A vxlan UDP payload: VNI 42, to our MAC, IPv4, the known IPv4/UDP packet.
    static let vxlanFrame: [UInt8] = [
        0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00,
        0x02, 0x42, 0x0a, 0xf4, 0x02, 0x00, 0x02, 0x42, 0x0a, 0xf4, 0x01, 0x00, 0x08, 0x00,
    ] + KnownPackets.ipv4UDP

    static func decap(_ d: Decapsulator, _ bytes: [UInt8]) -> Result<DecapsulatedPacket, WireError> {
        withBytes(bytes) { b in Result { () throws(WireError) in try d.decapsulate(b) } }
    }

    static func reason(_ d: Decapsulator, _ bytes: [UInt8]) -> WireError? {
        if case .failure(let e) = decap(d, bytes) { return e }
        return nil
    }

    @Test("a literal vxlan frame: the inner packet starts 22 bytes in")
    func knownVXLAN() throws {
        let d = try Self.decap(Self.vxlan, Self.vxlanFrame).get()
        #expect(d.offset == 22)
        #expect(d.length == 34)
        #expect(d.info.source == .v4(KnownPackets.v4Source))
        #expect((d.info.sourcePort, d.info.destinationPort) == (40000, 53))
        let v6 = Array(Self.vxlanFrame[0..<20]) + [0x86, 0xdd] + KnownPackets.ipv6TCP
        let d6 = try Self.decap(Self.vxlan, v6).get()
        #expect((d6.offset, d6.length, d6.info.version, d6.info.destinationPort) == (22, 62, 6, 443))
    }

    @Test("a literal udp-format payload: the inner packet starts at 0")
    func knownUDP() throws {
        let d = try Self.decap(Self.udp, KnownPackets.ipv6UDP).get()
        #expect((d.offset, d.length, d.info.version) == (0, 54, 6))
    }

    @Test("Ethernet padding after a short inner packet is not part of it")
    func padding() throws {
        let d = try Self.decap(Self.vxlan, Self.vxlanFrame + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).get()
        #expect(d.length == 34)
    }

    @Test("each refusal has its own reason")
    func reasons() {
        var f = Self.vxlanFrame
        f[6] = 43
        #expect(Self.reason(Self.vxlan, f) == .wrongVNI)
        f = Self.vxlanFrame
        f[0] = 0x00
        #expect(Self.reason(Self.vxlan, f) == .vxlanFlagMissing)
        f[0] = 0xf7 // every flag but I
        #expect(Self.reason(Self.vxlan, f) == .vxlanFlagMissing)
        f[6] = 43
        #expect(Self.reason(Self.vxlan, f) == .vxlanFlagMissing, "the I flag is checked before the VNI")
        for etherType: [UInt8] in [[0x08, 0x06], [0x81, 0x00], [0x88, 0xcc], [0x00, 0x00]] {
            f = Self.vxlanFrame
            f.replaceSubrange(20..<22, with: etherType)
            #expect(Self.reason(Self.vxlan, f) == .innerEtherTypeNotIP, "\(etherType)")
        }
        // ARP with a real ARP body: refused, not parsed.
        let arp = Array(Self.vxlanFrame[0..<20]) + [0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 18)
        #expect(Self.reason(Self.vxlan, arp) == .innerEtherTypeNotIP)
        for mac in [MACAddress.broadcast, Self.theirMAC, MACAddress(0x0242_0af4_0201)] {
            f = Self.vxlanFrame
            f.replaceSubrange(8..<14, with: macBytes(mac))
            #expect(Self.reason(Self.vxlan, f) == .innerDestinationMACNotOurs, "\(mac)")
        }
        f = Self.vxlanFrame
        f.replaceSubrange(20..<22, with: [0x86, 0xdd])
        #expect(Self.reason(Self.vxlan, f) == .etherTypeVersionMismatch, "IPv6 EtherType, IPv4 packet")
        let v4TypeV6Packet = Array(Self.vxlanFrame[0..<22]) + KnownPackets.ipv6UDP
        #expect(Self.reason(Self.vxlan, v4TypeV6Packet) == .etherTypeVersionMismatch, "IPv4 EtherType, IPv6 packet")
        f = Self.vxlanFrame
        f[22] = 0x55
        #expect(Self.reason(Self.vxlan, f) == .notIP)
        var u = KnownPackets.ipv4UDP
        u[0] = 0x15
        #expect(Self.reason(Self.udp, u) == .notIP)
        #expect(Self.reason(Self.udp, []) == .truncated)
        #expect(Self.reason(Self.vxlan, []) == .truncated)
        // A vxlan frame is no udp-format payload, and the other way round.
        #expect(Self.reason(Self.udp, Self.vxlanFrame) == .notIP)
        #expect(Self.reason(Self.vxlan, KnownPackets.ipv4UDP) == .vxlanFlagMissing)
        let nilBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        #expect(wireError { () throws(WireError) in try Self.udp.decapsulate(nilBuffer) } == .truncated)
        #expect(wireError { () throws(WireError) in try Self.vxlan.decapsulate(nilBuffer) } == .truncated)
    }

    /// The reason a valid payload cut to `n` bytes must be refused with (nil: it must pass).
    static func truncationReason(format: EncapsulationFormat, packet p: GeneratedPacket, cutTo n: Int) -> WireError? {
        let h = format.headerLength
        if format == .vxlan && n < h + 1 { return .truncated } // VXLAN header, Ethernet header, empty inner
        if format == .udp && n == 0 { return .truncated }
        let inner = n - h
        if inner >= p.bytes.count { return nil }
        if p.version == 4 {
            if inner < 20 { return .truncated }
            if inner < p.headerLength { return .ipv4HeaderLength }
            return .ipv4TotalLength
        }
        if inner < 40 { return .truncated }
        return .ipv6PayloadLength
    }

    @Test("every truncation of a valid payload is refused with the right reason", arguments: EncapsulationFormat.allCases)
    func truncations(_ format: EncapsulationFormat) {
        var g = SeededGenerator(seed: format == .udp ? 0x7A1 : 0x7A2)
        let dec = Decapsulator(format: format, vni: 7, localMAC: Self.ourMAC)
        let enc = Encapsulator(format: format, vni: 7, localMAC: Self.theirMAC)
        var checked = 0
        for _ in 0..<300 {
            let p = PacketFactory.random(using: &g, maxPayload: 120)
            var buf = [UInt8](repeating: 0, count: 22) + p.bytes
            let start = try! buf.withUnsafeMutableBytes { b in
                try enc.encapsulate(b, innerOffset: 22, innerLength: p.bytes.count, innerVersion: p.version,
                                    peerMAC: Self.ourMAC)
            }
            let frame = Array(buf[start...])
            for n in 0...frame.count {
                let want = Self.truncationReason(format: format, packet: p, cutTo: n)
                let got = Self.reason(dec, Array(frame[0..<n]))
                #expect(got == want, "cut to \(n) of \(frame.count): \(frame)")
                checked += 1
            }
        }
        #expect(checked > 20000)
    }

    @Test("random byte strings never trap; any accepted packet lies inside the bytes", arguments: EncapsulationFormat.allCases)
    func randomBytes(_ format: EncapsulationFormat) {
        var g = SeededGenerator(seed: format == .udp ? 0xB17E5 : 0xB17E6)
        let dec = Decapsulator(format: format, vni: 42, localMAC: Self.ourMAC)
        var reasons: [WireError: Int] = [:]
        var accepted = 0
        for _ in 0..<60000 {
            var b = g.bytes(Int.random(in: 0...160, using: &g))
            // Steer part of the inputs past the early checks so the deeper ones are reached too.
            if format == .vxlan && b.count >= 22 && g.chance(0.7) {
                b.replaceSubrange(0..<22, with: vxlanPrefix(vni: 42, destination: Self.ourMAC, source: Self.theirMAC,
                                                            etherType: g.chance(0.5) ? EtherType.ipv4 : EtherType.ipv6))
            }
            let v = format.headerLength
            if b.count > v && g.chance(0.7) { b[v] = (g.chance(0.5) ? 0x40 : 0x60) | (b[v] & 0x0f) }
            switch Self.decap(dec, b) {
            case .success(let d):
                accepted += 1
                #expect(d.offset == v)
                #expect(d.offset + d.length <= b.count)
                #expect(d.length >= (d.info.version == 4 ? 20 : 40))
            case .failure(let e):
                reasons[e, default: 0] += 1
                #expect(WireError.allCases.contains(e))
            }
        }
        #expect(accepted > 0)
        #expect(reasons.count >= (format == .udp ? 5 : 9), "\(reasons)")
    }

    @Test("valid payloads with random bytes flipped never trap", arguments: EncapsulationFormat.allCases)
    func mutations(_ format: EncapsulationFormat) {
        var g = SeededGenerator(seed: format == .udp ? 0x3071 : 0x3072)
        let dec = Decapsulator(format: format, vni: 9, localMAC: Self.ourMAC)
        let enc = Encapsulator(format: format, vni: 9, localMAC: Self.theirMAC)
        for _ in 0..<3000 {
            let p = PacketFactory.random(using: &g, maxPayload: 200)
            var buf = [UInt8](repeating: 0, count: 22) + p.bytes
            let start = try! buf.withUnsafeMutableBytes { b in
                try enc.encapsulate(b, innerOffset: 22, innerLength: p.bytes.count, innerVersion: p.version,
                                    peerMAC: Self.ourMAC)
            }
            var frame = Array(buf[start...])
            for _ in 0..<Int.random(in: 1...4, using: &g) {
                // Mostly in the headers, where the lengths live.
                let i = Int.random(in: 0..<min(frame.count, g.chance(0.8) ? format.headerLength + 80 : frame.count), using: &g)
                frame[i] = UInt8.random(in: 0...255, using: &g)
            }
            if case .success(let d) = Self.decap(dec, frame) {
                #expect(d.offset + d.length <= frame.count)
            }
        }
    }

    @Test func configuration() {
        let d = Decapsulator(format: .vxlan)
        #expect(d.vni == 1)
        #expect(d.localMAC == MACAddress(0))
        #expect(Self.vxlan.format == .vxlan && Self.vxlan.vni == 42 && Self.vxlan.localMAC == Self.ourMAC)
    }
}
