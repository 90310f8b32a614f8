import Testing
import TwillTestSupport
@testable import TwillWire

@Suite("TCPRun")
struct TCPRunTests {
    /// Consecutive segments of one flow: payload sizes as given, sequence numbers adjacent, the
    /// payloads cut from one pattern so that the merged payload is a prefix of it.
    static func flow(_ sizes: [Int], version: UInt8 = 4, tcpOptions: [UInt8] = []) -> [TestPacket] {
        let all = patternBytes(sizes.reduce(0, +))
        var out: [TestPacket] = []
        var at = 0
        for size in sizes {
            var p = TestPacket()
            p.version = version
            p.tcpOptions = tcpOptions
            p.sequence = 0x0102_0304 &+ UInt32(at)
            p.payload = Array(all[at..<(at + size)])
            out.append(p)
            at += size
        }
        return out
    }

    /// The one packet `segments` merge into, as a sender would have sent it: the first segment's
    /// header, the last one's PSH, every payload.
    static func merged(_ segments: [TestPacket]) -> TestPacket {
        var m = segments[0]
        m.payload = segments.flatMap(\.payload)
        m.flags |= segments.last!.flags & TCPFlags.psh
        return m
    }

    /// Whether a run started with `first` accepts `next` (both must be run segments).
    static func accepts(_ first: TestPacket, _ next: TestPacket) -> Bool {
        withBytes(first.bytes()) { a in
            withBytes(next.bytes()) { b in
                guard let s = TCPRunSegment(UnsafeRawBufferPointer(a)), let t = TCPRunSegment(UnsafeRawBufferPointer(b)) else {
                    Issue.record("not a run segment")
                    return false
                }
                var run = TCPRun()
                run.start(s)
                return run.accepts(t)
            }
        }
    }

    static func isRunSegment(_ bytes: [UInt8]) -> Bool {
        withBytes(bytes) { b in TCPRunSegment(UnsafeRawBufferPointer(b)) != nil }
    }

    /// Checks a coalesced packet of several segments: the virtio fields, lengths, the IPv4 header
    /// checksum, the pseudo-header sum left in the TCP checksum field, and, once that checksum is
    /// completed, the packet a sender would have sent for the whole run.
    func checkRun(_ c: CoalescedPacket, of segments: [TestPacket]) {
        let first = segments[0]
        let m = Self.merged(segments)
        let t = first.ipHeaderLength
        #expect(c.vnet == VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum,
                                          gsoType: first.version == 4 ? VirtioNetHeader.gsoTCPv4 : VirtioNetHeader.gsoTCPv6,
                                          headerLength: UInt16(first.headerLength), gsoSize: UInt16(first.payload.count),
                                          checksumStart: UInt16(t), checksumOffset: 16))
        #expect(c.bytes.count == m.headerLength + m.payload.count)
        let l4Length = c.bytes.count - t
        if first.version == 4 {
            #expect(Int(readBE16(c.bytes, 2)) == c.bytes.count)
            #expect(ipv4HeaderChecksumIsValid(c.bytes))
            #expect(readBE16(c.bytes, t + 16)
                == UInt16(referenceSum(pseudoHeader(first.source4, first.destination4, proto: IPProtocol.tcp, length: l4Length))))
        } else {
            #expect(Int(readBE16(c.bytes, 4)) == l4Length)
            #expect(readBE16(c.bytes, t + 16)
                == UInt16(referenceSum(pseudoHeader(first.source6, first.destination6, proto: IPProtocol.tcp, length: l4Length))))
        }
        #expect(c.bytes[t + 13] == m.flags)
        let completed = completedByReference(c.bytes, start: t, offset: 16)
        #expect(transportChecksumIsValid(completed, transportOffset: t, proto: IPProtocol.tcp))
        #expect(completed == m.bytes())
    }

    /// A segment that went out alone: zero virtio header, the bytes as they came.
    func checkAlone(_ c: CoalescedPacket, _ p: TestPacket) {
        #expect(c.vnet == VirtioNetHeader())
        #expect(c.bytes == p.bytes())
    }

    @Test("a run segment's fields, IPv4 and IPv6")
    func segmentFields() {
        for version: UInt8 in [4, 6] {
            var p = TestPacket()
            p.version = version
            p.flags = TCPFlags.ack | TCPFlags.psh
            p.tcpOptions = timestampOptions
            p.payload = patternBytes(777)
            withBytes(p.bytes()) { b in
                guard let s = TCPRunSegment(UnsafeRawBufferPointer(b)) else {
                    Issue.record("IPv\(version) segment refused")
                    return
                }
                #expect(s.version == version)
                #expect(s.ipHeaderLength == (version == 4 ? 20 : 40))
                #expect(s.tcpHeaderLength == 32)
                #expect(s.headerLength == s.ipHeaderLength + 32)
                #expect(s.payloadLength == 777)
                #expect(s.sequence == 0x0102_0304)
                #expect(s.flags == TCPFlags.ack | TCPFlags.psh)
                #expect(s.base == UnsafeRawPointer(b.baseAddress!))
                #expect(s.payload == UnsafeRawPointer(b.baseAddress! + s.headerLength))
            }
        }
    }

    @Test("two adjacent segments merge: virtio header, total length, header checksum, pseudo-header sum")
    func twoAdjacentMerge() {
        let segments = Self.flow([1000, 1000])
        #expect(Self.accepts(segments[0], segments[1]))
        let out = coalesce(segments.map { $0.bytes() })
        #expect(out.count == 1)
        guard let c = out.first else { return }
        #expect(c.vnet.gsoSize == 1000 && c.vnet.headerLength == 40 && c.vnet.checksumStart == 20)
        #expect(readBE16(c.bytes, 2) == 2040)
        checkRun(c, of: segments)
    }

    @Test("the run's tallies follow start and append; reset empties it")
    func tallies() {
        let segments = Self.flow([1000, 1000, 400])
        let buffers = segments.map { p -> UnsafeMutableRawBufferPointer in
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: p.bytes().count, alignment: 16)
            b.copyBytes(from: p.bytes())
            return b
        }
        defer { buffers.forEach { $0.deallocate() } }
        let s = buffers.compactMap { TCPRunSegment(UnsafeRawBufferPointer($0)) }
        #expect(s.count == 3)
        var run = TCPRun()
        #expect(run.isEmpty)
        run.start(s[0])
        #expect(!run.isEmpty && run.segments == 1 && run.totalPayload == 1000)
        #expect(run.accepts(s[1]))
        run.append(s[1])
        #expect(run.accepts(s[2]))
        run.append(s[2])
        #expect(run.segments == 3 && run.totalPayload == 2400)
        #expect(run.first?.base == UnsafeRawPointer(buffers[0].baseAddress!))
        run.reset()
        #expect(run.isEmpty && run.segments == 0 && run.totalPayload == 0 && run.first == nil)
        var out = [UInt8](repeating: 0xee, count: TCPRun.maximumHeaderLength)
        #expect(out.withUnsafeMutableBytes { run.writeHeader(into: $0.baseAddress!) } == 0)
        #expect(out.allSatisfy { $0 == 0xee })
    }

    @Test("a segment of a different flow or out of order does not join", arguments: [
        ("sequence gap", { @Sendable (p: inout TestPacket) in p.sequence &+= 1 }),
        ("retransmission", { @Sendable (p: inout TestPacket) in p.sequence &-= 1000 }),
        ("ACK number", { @Sendable (p: inout TestPacket) in p.acknowledgment &+= 1 }),
        ("source port", { @Sendable (p: inout TestPacket) in p.sourcePort = 51001 }),
        ("destination port", { @Sendable (p: inout TestPacket) in p.destinationPort = 81 }),
        ("source address", { @Sendable (p: inout TestPacket) in p.source4 = IPv4Address(10, 244, 1, 3) }),
        ("destination address", { @Sendable (p: inout TestPacket) in p.destination4 = IPv4Address(10, 244, 3, 3) }),
        ("TOS", { @Sendable (p: inout TestPacket) in p.tos = 0x02 }),
        ("TTL", { @Sendable (p: inout TestPacket) in p.ttl = 63 }),
        ("DF", { @Sendable (p: inout TestPacket) in p.fragment = 0 }),
        ("options bytes", { @Sendable (p: inout TestPacket) in p.tcpOptions[11] = 3 }),
        ("options length", { @Sendable (p: inout TestPacket) in p.tcpOptions += [1, 1, 1, 1] }),
        ("IP version", { @Sendable (p: inout TestPacket) in p.version = 6 }),
        // The kernel compares the whole word of data offset, reserved bits, flags and window, but for
        // CWR, FIN and PSH (tcp_gro_receive): a merged packet keeps only the first segment's.
        ("window", { @Sendable (p: inout TestPacket) in p.window = 0x7fff }),
        ("reserved bits", { @Sendable (p: inout TestPacket) in p.reserved = 0x01 }),
    ] as [(String, @Sendable (inout TestPacket) -> Void)])
    func otherFlowRefused(_ what: String, _ change: @Sendable (inout TestPacket) -> Void) {
        let segments = Self.flow([1000, 1000], tcpOptions: timestampOptions)
        var second = segments[1]
        change(&second)
        #expect(Self.isRunSegment(second.bytes()), "the changed segment is still a run segment")
        #expect(!Self.accepts(segments[0], second), "\(what)")
        let out = coalesce([segments[0].bytes(), second.bytes()])
        #expect(out.count == 2)
        if out.count == 2 {
            checkAlone(out[0], segments[0])
            checkAlone(out[1], second)
        }
    }

    @Test("without DF, IPv4 IDs must count up by one per segment; with DF they may be anything")
    func identificationRule() {
        var plain = Self.flow([1000, 1000, 1000])
        for i in plain.indices {
            plain[i].fragment = 0
            plain[i].identification = 0x1c46 &+ UInt16(i)
        }
        #expect(coalesce(plain.map { $0.bytes() }).count == 1, "IDs counting up join")
        var repeated = plain
        repeated[2].identification = 0x1c47
        #expect(coalesce(repeated.map { $0.bytes() }).count == 2, "a repeated ID without DF starts a new run")
        var withDF = Self.flow([1000, 1000, 1000])
        for i in withDF.indices { withDF[i].identification = 0x0101 }
        #expect(coalesce(withDF.map { $0.bytes() }).count == 1, "with DF a fixed ID joins")
    }

    @Test("IPv6: a different traffic class, flow label, hop limit or address does not join", arguments: [
        ("traffic class", { @Sendable (p: inout TestPacket) in p.tos = 0x02 }),
        ("flow label", { @Sendable (p: inout TestPacket) in p.flowLabel = 0x54321 }),
        ("hop limit", { @Sendable (p: inout TestPacket) in p.ttl = 63 }),
        ("source address", { @Sendable (p: inout TestPacket) in p.source6 = IPv6Address(high: 0xfd00_0000_0000_0000, low: 3) }),
        ("destination address", { @Sendable (p: inout TestPacket) in p.destination6 = IPv6Address(high: 0xfd00_0000_0000_0001, low: 2) }),
    ] as [(String, @Sendable (inout TestPacket) -> Void)])
    func otherIPv6FlowRefused(_ what: String, _ change: @Sendable (inout TestPacket) -> Void) {
        let segments = Self.flow([1000, 1000], version: 6)
        var second = segments[1]
        change(&second)
        #expect(Self.isRunSegment(second.bytes()))
        #expect(!Self.accepts(segments[0], second), "\(what)")
    }

    @Test("anything but a plain ACK or PSH|ACK data segment is no run segment", arguments: [
        ("SYN", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.syn }),
        ("SYN|ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.syn | TCPFlags.ack }),
        ("FIN|ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.fin | TCPFlags.ack }),
        ("RST|ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.rst | TCPFlags.ack }),
        ("URG|ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.urg | TCPFlags.ack; p.urgent = 10 }),
        ("ECE|ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.ece | TCPFlags.ack }),
        ("CWR|ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.cwr | TCPFlags.ack }),
        ("PSH without ACK", { @Sendable (p: inout TestPacket) in p.flags = TCPFlags.psh }),
        ("no flags", { @Sendable (p: inout TestPacket) in p.flags = 0 }),
        ("no payload", { @Sendable (p: inout TestPacket) in p.payload = [] }),
        ("IPv4 options", { @Sendable (p: inout TestPacket) in p.ipOptions = [1, 1, 1, 0] }),
        ("more fragments", { @Sendable (p: inout TestPacket) in p.fragment = 0x2000 }),
        ("fragment offset", { @Sendable (p: inout TestPacket) in p.fragment = 0x4001 }),
        ("UDP", { @Sendable (p: inout TestPacket) in p.udp = true }),
        ("IPv6 extension header", { @Sendable (p: inout TestPacket) in p.version = 6; p.ipv6Extensions = [6, 0, 1, 4, 0, 0, 0, 0] }),
    ] as [(String, @Sendable (inout TestPacket) -> Void)])
    func notRunSegments(_ what: String, _ change: @Sendable (inout TestPacket) -> Void) {
        var p = Self.flow([1000])[0]
        change(&p)
        #expect(!Self.isRunSegment(p.bytes()), "\(what)")
        // Such a packet goes out alone, unchanged, and closes the run in front of it.
        let before = Self.flow([1000])[0]
        let out = coalesce([before.bytes(), p.bytes()])
        #expect(out.count == 2)
        if out.count == 2 { checkAlone(out[1], p) }
    }

    @Test("damaged or mislabelled packets are no run segments")
    func malformed() {
        let p = Self.flow([1000])[0]
        let good = p.bytes()
        #expect(Self.isRunSegment(good))
        var noDF = p
        noDF.fragment = 0
        #expect(Self.isRunSegment(noDF.bytes()), "DF is not required")

        var b = good
        b[500] ^= 0x01
        #expect(!Self.isRunSegment(b), "a payload bit flipped: the TCP checksum fails")
        b = good
        b[36] ^= 0x80
        #expect(!Self.isRunSegment(b), "TCP checksum field damaged")
        #expect(!Self.isRunSegment(good + [0]), "a byte past the total length")
        #expect(!Self.isRunSegment(withTransportChecksumFixed(Array(good.dropLast()), transportOffset: 20)),
                "a byte short of the total length")
        b = good
        b[0] = 0x55
        #expect(!Self.isRunSegment(b), "version 5")
        #expect(!Self.isRunSegment(Array(good[0..<39])), "39 bytes")
        b = good
        b[32] = 0x40
        #expect(!Self.isRunSegment(withTransportChecksumFixed(b, transportOffset: 20)), "data offset 4")

        var v6 = p
        v6.version = 6
        let good6 = v6.bytes()
        #expect(Self.isRunSegment(good6))
        #expect(!Self.isRunSegment(good6 + [0]), "a byte past the IPv6 payload length")
        b = good6
        b[6] = IPProtocol.udp
        #expect(!Self.isRunSegment(b), "IPv6 next header UDP")
        #expect(!Self.isRunSegment(Array(good6[0..<59])), "59 bytes of IPv6")
    }

    @Test("a segment with a bad IPv4 header checksum is no run segment, as in the kernel's GRO")
    func badIPv4HeaderChecksum() {
        var b = Self.flow([1000])[0].bytes()
        // TTL 64 -> 65 without fixing the header checksum: the TCP checksum does not cover the TTL.
        b[8] = 65
        #expect(!ipv4HeaderChecksumIsValid(b))
        #expect(transportChecksumIsValid(b, transportOffset: 20, proto: IPProtocol.tcp))
        // Merged, the damaged header would get a fresh, valid header checksum (inet_gro_receive
        // refuses such a packet instead).
        let taken = Self.isRunSegment(b)
        #expect(taken == false)
    }

    @Test("PSH closes the run: the next segment starts a new one")
    func pshCloses() {
        var segments = Self.flow([1000, 1000, 1000])
        segments[1].flags |= TCPFlags.psh
        let out = coalesce(segments.map { $0.bytes() })
        #expect(out.count == 2)
        guard out.count == 2 else { return }
        checkRun(out[0], of: Array(segments[0..<2]))
        #expect(out[0].bytes[33] == TCPFlags.ack | TCPFlags.psh)
        checkAlone(out[1], segments[2])

        // A run that starts with PSH is closed at once.
        var pushed = Self.flow([1000, 1000])
        pushed[0].flags |= TCPFlags.psh
        let alone = coalesce(pushed.map { $0.bytes() })
        #expect(alone.count == 2)
        if alone.count == 2 {
            checkAlone(alone[0], pushed[0])
            checkAlone(alone[1], pushed[1])
        }
    }

    @Test("a shorter segment joins and closes the run; a longer one does not join")
    func segmentSizes() {
        let shorter = Self.flow([1000, 500, 500])
        let out = coalesce(shorter.map { $0.bytes() })
        #expect(out.count == 2)
        if out.count == 2 {
            checkRun(out[0], of: Array(shorter[0..<2]))
            checkAlone(out[1], shorter[2])
        }

        let longer = Self.flow([500, 1000])
        #expect(!Self.accepts(longer[0], longer[1]))
        #expect(coalesce(longer.map { $0.bytes() }).count == 2)

        let equal = Self.flow([1000, 1000, 1000, 1000])
        let one = coalesce(equal.map { $0.bytes() })
        #expect(one.count == 1)
        if let c = one.first { checkRun(c, of: equal) }
    }

    @Test("the sequence number may wrap inside a run")
    func sequenceWraps() {
        var segments = Self.flow([1000, 1000, 1000])
        for i in 0..<3 { segments[i].sequence = 0xffff_fc00 &+ UInt32(1000 * i) }
        let out = coalesce(segments.map { $0.bytes() })
        #expect(out.count == 1)
        if let c = out.first { checkRun(c, of: segments) }
    }

    @Test("a run grows to 65535 bytes of IPv4 packet (or IPv6 payload) and no further", arguments: [4, 6] as [UInt8])
    func lengthLimit(version: UInt8) {
        // 65 full segments, then one that fills the packet to the limit exactly, or one byte more.
        let headers = version == 4 ? 40 : 20
        let fill = 65535 - headers - 65 * 1000
        let fits = Self.flow(Array(repeating: 1000, count: 65) + [fill], version: version)
        let out = coalesce(fits.map { $0.bytes() })
        #expect(out.count == 1)
        if let c = out.first {
            #expect(readBE16(c.bytes, version == 4 ? 2 : 4) == 0xffff)
            checkRun(c, of: fits)
        }
        let over = Self.flow(Array(repeating: 1000, count: 65) + [fill + 1], version: version)
        let split = coalesce(over.map { $0.bytes() })
        #expect(split.count == 2)
        if split.count == 2 {
            checkRun(split[0], of: Array(over[0..<65]))
            checkAlone(split[1], over[65])
        }
    }

    @Test("IPv6 with timestamps: the payload length field, TCPV6, hdr_len 72")
    func ipv6Run() {
        let segments = Self.flow([1200, 1200, 1200, 7], version: 6,
                                 tcpOptions: timestampOptions)
        let out = coalesce(segments.map { $0.bytes() })
        #expect(out.count == 1)
        guard let c = out.first else { return }
        #expect(c.vnet.gsoType == VirtioNetHeader.gsoTCPv6 && c.vnet.headerLength == 72 && c.vnet.checksumStart == 40)
        #expect(readBE16(c.bytes, 4) == 32 + 3607)
        checkRun(c, of: segments)
    }

    @Test("a run of one segment writes a zero virtio header and the header as it came")
    func singleSegment() {
        for version: UInt8 in [4, 6] {
            let p = Self.flow([1000], version: version)[0]
            let bytes = p.bytes()
            withBytes(bytes) { b in
                guard let s = TCPRunSegment(UnsafeRawBufferPointer(b)) else {
                    Issue.record("refused")
                    return
                }
                var run = TCPRun()
                run.start(s)
                var out = [UInt8](repeating: 0xee, count: TCPRun.maximumHeaderLength)
                let n = out.withUnsafeMutableBytes { run.writeHeader(into: $0.baseAddress!) }
                #expect(n == VirtioNetHeader.length + p.headerLength)
                #expect(Array(out[0..<10]) == [UInt8](repeating: 0, count: 10))
                #expect(Array(out[10..<n]) == Array(bytes[0..<p.headerLength]))
                #expect(out[n...].allSatisfy { $0 == 0xee }, "nothing written past the header")
            }
        }
    }
}
