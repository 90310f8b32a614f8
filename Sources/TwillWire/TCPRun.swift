/// One inner TCP segment as the coalescer sees it: a plain data segment (ACK, maybe PSH) of IPv4
/// without options or fragments, or IPv6 without extension headers, whose checksum verifies.
/// Anything else is written on its own and left to the kernel.
public struct TCPRunSegment {
    public let base: UnsafeRawPointer
    public let version: UInt8
    public let ipHeaderLength: Int
    public let tcpHeaderLength: Int
    public let payloadLength: Int
    public let sequence: UInt32
    public let flags: UInt8

    @inline(__always) public var headerLength: Int { ipHeaderLength + tcpHeaderLength }
    @inline(__always) public var payload: UnsafeRawPointer { base + headerLength }

    /// Nil when the packet cannot join a run; `packet` must be exactly the IP packet.
    @inline(__always)
    public init?(_ packet: UnsafeRawBufferPointer) {
        guard let p = packet.baseAddress, packet.count >= 40 else { return nil }
        let version = load8(p, 0) >> 4
        let ipLength: Int
        let pseudo: UInt32
        if version == 4 {
            guard load8(p, 0) == 0x45, load8(p, 9) == IPProtocol.tcp, Int(load16(p, 2)) == packet.count,
                  load16(p, 6) & 0x3fff == 0,
                  // The header must verify too: the merged packet gets a fresh header checksum.
                  InternetChecksum.sum(UnsafeRawBufferPointer(start: p, count: 20)) == 0xffff else { return nil }
            ipLength = 20
            pseudo = InternetChecksum.pseudoHeaderSum(source: IPv4Address(load32(p, 12)), destination: IPv4Address(load32(p, 16)),
                                                      proto: IPProtocol.tcp, length: packet.count - 20)
        } else if version == 6 {
            guard packet.count >= 60, load8(p, 6) == IPProtocol.tcp, Int(load16(p, 4)) + 40 == packet.count else { return nil }
            ipLength = 40
            pseudo = InternetChecksum.pseudoHeaderSum(
                source: IPv6Address(high: load64(p, 8), low: load64(p, 16)),
                destination: IPv6Address(high: load64(p, 24), low: load64(p, 32)), proto: IPProtocol.tcp,
                length: packet.count - 40)
        } else {
            return nil
        }
        let tcpLength = Int(load8(p, ipLength + 12) >> 4) * 4
        guard tcpLength >= 20, ipLength + tcpLength < packet.count else { return nil }
        let flags = load8(p, ipLength + 13)
        guard flags & ~TCPFlags.psh == TCPFlags.ack else { return nil }
        // The sum over a correct segment, pseudo-header included, is 0xffff.
        let sum = InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: packet[ipLength...]), initial: pseudo)
        guard sum == 0xffff else { return nil }
        self.base = p
        self.version = version
        self.ipHeaderLength = ipLength
        self.tcpHeaderLength = tcpLength
        self.payloadLength = packet.count - ipLength - tcpLength
        self.sequence = load32(p, ipLength + 4)
        self.flags = flags
    }
}

/// A run of segments of one TCP flow that the kernel's GRO rules allow to travel as one packet:
/// same addresses, ports, ACK, TOS/traffic class, TTL/hop limit and options; adjacent sequence
/// numbers; all but the last of the first segment's size; nothing after a PSH or a short segment.
/// The caller keeps the payloads; the run keeps only where the first header is and the tallies.
public struct TCPRun {
    public private(set) var first: TCPRunSegment?
    public private(set) var segments = 0
    public private(set) var totalPayload = 0
    private var nextSequence: UInt32 = 0
    private var lastFlags: UInt8 = 0
    private var closed = false

    /// Bytes 12-15 of the TCP header without CWR, PSH and FIN, which may differ within a run.
    static let headerWordMask: UInt32 = ~(UInt32(TCPFlags.cwr | TCPFlags.psh | TCPFlags.fin) << 16)

    /// The largest IP packet a run may grow to.
    public static let maximumLength = 65535
    /// The bytes `writeHeader` writes at most: a virtio header and IPv6 + TCP headers with options.
    public static let maximumHeaderLength = VirtioNetHeader.length + 40 + 60

    public init() {}

    public var isEmpty: Bool { segments == 0 }

    public mutating func start(_ s: TCPRunSegment) {
        first = s
        segments = 1
        totalPayload = s.payloadLength
        nextSequence = s.sequence &+ UInt32(truncatingIfNeeded: s.payloadLength)
        lastFlags = s.flags
        closed = s.flags & TCPFlags.psh != 0
    }

    public mutating func reset() {
        first = nil
        segments = 0
        totalPayload = 0
        closed = false
    }

    @inline(__always)
    public func accepts(_ s: TCPRunSegment) -> Bool {
        guard !closed, let f = first, s.version == f.version, s.ipHeaderLength == f.ipHeaderLength,
              s.tcpHeaderLength == f.tcpHeaderLength, s.sequence == nextSequence,
              s.payloadLength <= f.payloadLength,
              f.headerLength + totalPayload + s.payloadLength <= TCPRun.maximumLength + (f.version == 6 ? 40 : 0)
        else { return false }
        let a = f.base, b = s.base
        if f.version == 4 {
            // TOS, DF, TTL, protocol, addresses; without DF the IDs must count up, one per segment.
            guard load8(a, 1) == load8(b, 1), load16(a, 6) == load16(b, 6), load8(a, 8) == load8(b, 8),
                  load64(a, 12) == load64(b, 12) else { return false }
            if load16(a, 6) & 0x4000 == 0 && load16(b, 4) != load16(a, 4) &+ UInt16(truncatingIfNeeded: segments) {
                return false
            }
        } else {
            guard load32(a, 0) == load32(b, 0), load8(a, 7) == load8(b, 7),
                  bytesEqual(a + 8, b + 8, 32) else { return false }
        }
        let t = f.ipHeaderLength
        // Ports, ACK number, data offset, reserved bits, flags but CWR/PSH/FIN, window (the kernel's
        // word compare), then the options byte for byte.
        guard load32(a, t) == load32(b, t), load32(a, t + 8) == load32(b, t + 8),
              load32(a, t + 12) & TCPRun.headerWordMask == load32(b, t + 12) & TCPRun.headerWordMask else { return false }
        return f.tcpHeaderLength == 20 || bytesEqual(a + t + 20, b + t + 20, f.tcpHeaderLength - 20)
    }

    public mutating func append(_ s: TCPRunSegment) {
        segments += 1
        totalPayload += s.payloadLength
        nextSequence = s.sequence &+ UInt32(truncatingIfNeeded: s.payloadLength)
        lastFlags = s.flags
        if s.flags & TCPFlags.psh != 0 || s.payloadLength < (first?.payloadLength ?? 0) { closed = true }
    }

    /// Writes the virtio header and the run's IP + TCP header to `out` (at least
    /// `maximumHeaderLength` bytes); the payloads follow it on the wire. Returns the bytes written.
    /// A run of one segment goes without GSO, its checksum as it came; a longer one asks the kernel
    /// to finish the checksum (NEEDS_CSUM) and to segment again if it forwards the packet.
    public func writeHeader(into out: UnsafeMutableRawPointer) -> Int {
        guard let f = first else { return 0 }
        let h = out + VirtioNetHeader.length
        h.copyMemory(from: f.base, byteCount: f.headerLength)
        let vnet: VirtioNetHeader
        if segments == 1 {
            vnet = VirtioNetHeader()
        } else {
            let t = f.ipHeaderLength
            let tcpLength = f.tcpHeaderLength + totalPayload
            let pseudo: UInt32
            if f.version == 4 {
                store16(h, 2, UInt16(truncatingIfNeeded: f.headerLength + totalPayload))
                store16(h, 10, 0)
                store16(h, 10, InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(start: h, count: 20))))
                pseudo = InternetChecksum.pseudoHeaderSum(source: IPv4Address(load32(h, 12)), destination: IPv4Address(load32(h, 16)),
                                                          proto: IPProtocol.tcp, length: tcpLength)
            } else {
                store16(h, 4, UInt16(truncatingIfNeeded: tcpLength))
                pseudo = InternetChecksum.pseudoHeaderSum(
                    source: IPv6Address(high: load64(h, 8), low: load64(h, 16)),
                    destination: IPv6Address(high: load64(h, 24), low: load64(h, 32)), proto: IPProtocol.tcp,
                    length: tcpLength)
            }
            store8(h, t + 13, f.flags | (lastFlags & TCPFlags.psh))
            // NEEDS_CSUM: the field holds the folded pseudo-header sum, not its complement.
            store16(h, t + 16, UInt16(truncatingIfNeeded: pseudo))
            vnet = VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum,
                                   gsoType: f.version == 4 ? VirtioNetHeader.gsoTCPv4 : VirtioNetHeader.gsoTCPv6,
                                   headerLength: UInt16(f.headerLength), gsoSize: UInt16(f.payloadLength),
                                   checksumStart: UInt16(t), checksumOffset: 16)
        }
        vnet.store(to: out)
        return VirtioNetHeader.length + f.headerLength
    }
}

/// Byte-for-byte equality of two short ranges (headers, options).
@inline(__always)
func bytesEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    var i = 0
    while i + 8 <= count {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < count {
        if load8(a, i) != load8(b, i) { return false }
        i += 1
    }
    return true
}
