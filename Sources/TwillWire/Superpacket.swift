/// A TSO/USO superpacket read from a TUN with IFF_VNET_HDR, checked against its virtio_net_hdr, and
/// cut into wire-size segments: each segment gets fresh IP and TCP/UDP headers (lengths, IPv4 ID,
/// sequence number, flags, checksums) written by `writeHeaders`; its payload stays where it is.
///
/// The kernel's `hdr_len` is not trusted: the header length is `csum_start` plus the TCP data offset
/// (or 8 for UDP), checked against the bytes.
public struct Superpacket {
    /// The inner IP packet (the bytes after the virtio header).
    public let packet: UnsafeRawBufferPointer
    public let version: UInt8
    public let isTCP: Bool
    /// IP header length including IPv4 options or IPv6 extension headers (the checksum start).
    public let ipHeaderLength: Int
    /// TCP header with options, or the 8-byte UDP header.
    public let transportHeaderLength: Int
    /// Payload bytes per segment (the last may carry fewer).
    public let segmentPayload: Int
    /// Payload bytes in all.
    public let payloadLength: Int

    /// Both headers: the bytes written in front of each segment's payload.
    @inline(__always) public var headerLength: Int { ipHeaderLength + transportHeaderLength }
    /// Number of segments (at least one).
    @inline(__always) public var segmentCount: Int { max(1, (payloadLength + segmentPayload - 1) / segmentPayload) }

    public init(packet: UnsafeRawBufferPointer, header: VirtioNetHeader) throws(WireError) {
        guard let p = packet.baseAddress, packet.count >= 1 else { throw .truncated }
        let version = load8(p, 0) >> 4
        let start = Int(header.checksumStart)
        let isTCP: Bool
        switch header.gsoType & ~VirtioNetHeader.gsoECN {
        case VirtioNetHeader.gsoTCPv4:
            guard version == 4 else { throw .gsoHeader }
            isTCP = true
        case VirtioNetHeader.gsoTCPv6:
            guard version == 6 else { throw .gsoHeader }
            isTCP = true
        case VirtioNetHeader.gsoUDPL4:
            guard version == 4 || version == 6 else { throw .gsoHeader }
            isTCP = false
        default:
            throw .gsoHeader
        }
        if version == 4 {
            guard packet.count >= IPv4Packet.minimumHeaderLength else { throw .truncated }
            guard start == Int(load8(p, 0) & 0x0f) * 4, start >= IPv4Packet.minimumHeaderLength else { throw .gsoHeader }
            guard Int(load16(p, 2)) == packet.count else { throw .ipv4TotalLength }
            guard load8(p, 9) == (isTCP ? IPProtocol.tcp : IPProtocol.udp) else { throw .gsoHeader }
        } else {
            guard packet.count >= IPv6Packet.headerLength else { throw .truncated }
            guard start >= IPv6Packet.headerLength else { throw .gsoHeader }
            guard Int(load16(p, 4)) + IPv6Packet.headerLength == packet.count else { throw .ipv6PayloadLength }
            // csum_start must be where the extension header chain ends, at the transport the GSO type
            // names; a fragment is never a superpacket.
            let chain = try IPv6Packet(UnsafeMutableRawBufferPointer(mutating: packet)).walkExtensionHeaders()
            guard chain.offset == start, chain.proto == (isTCP ? IPProtocol.tcp : IPProtocol.udp),
                  !chain.isFragment else { throw .gsoHeader }
        }
        let transport: Int
        if isTCP {
            guard start + TCPSegment.minimumHeaderLength <= packet.count else { throw .truncated }
            transport = Int(load8(p, start + 12) >> 4) * 4
            guard transport >= TCPSegment.minimumHeaderLength else { throw .tcpHeaderLength }
        } else {
            transport = UDPDatagram.headerLength
        }
        guard start + transport <= packet.count else { throw .truncated }
        let size = Int(header.gsoSize)
        guard size > 0 else { throw .gsoHeader }
        self.packet = packet
        self.version = version
        self.isTCP = isTCP
        self.ipHeaderLength = start
        self.transportHeaderLength = transport
        self.segmentPayload = size
        self.payloadLength = packet.count - start - transport
    }

    /// Payload bytes of segment `i`.
    @inline(__always)
    public func payloadCount(_ i: Int) -> Int {
        min(segmentPayload, payloadLength - i * segmentPayload)
    }

    /// Segment `i`'s payload, in place in the superpacket.
    @inline(__always)
    public func payload(_ i: Int) -> UnsafeRawBufferPointer {
        // In bounds by construction: segment i starts inside the payload and payloadCount stops at its end.
        UnsafeRawBufferPointer(start: packet.baseAddress.unsafelyUnwrapped + headerLength + i * segmentPayload,
                               count: payloadCount(i))
    }

    /// Writes segment `i`'s IP and transport headers (`headerLength` bytes) to `out`, with the
    /// transport checksum over those headers and the segment's payload.
    @inline(__always)
    public func writeHeaders(_ i: Int, into out: UnsafeMutableRawPointer) {
        let src = packet.baseAddress.unsafelyUnwrapped
        out.copyMemory(from: src, byteCount: headerLength)
        let count = payloadCount(i)
        let l4 = ipHeaderLength
        let l4Length = transportHeaderLength + count
        let pseudo: UInt32
        if version == 4 {
            store16(out, 2, UInt16(truncatingIfNeeded: headerLength + count))
            store16(out, 4, load16(src, 4) &+ UInt16(truncatingIfNeeded: i))
            store16(out, 10, 0)
            store16(out, 10, InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(start: out, count: l4))))
            pseudo = InternetChecksum.pseudoHeaderSum(
                source: IPv4Address(load32(out, 12)), destination: IPv4Address(load32(out, 16)),
                proto: isTCP ? IPProtocol.tcp : IPProtocol.udp, length: l4Length)
        } else {
            store16(out, 4, UInt16(truncatingIfNeeded: headerLength - IPv6Packet.headerLength + count))
            pseudo = InternetChecksum.pseudoHeaderSum(
                source: IPv6Address(high: load64(out, 8), low: load64(out, 16)),
                destination: IPv6Address(high: load64(out, 24), low: load64(out, 32)),
                proto: isTCP ? IPProtocol.tcp : IPProtocol.udp, length: l4Length)
        }
        let checksumOffset: Int
        if isTCP {
            store32(out, l4 + 4, load32(src, l4 + 4) &+ UInt32(truncatingIfNeeded: i * segmentPayload))
            var flags = load8(src, l4 + 13)
            if i != segmentCount - 1 { flags &= ~(TCPFlags.fin | TCPFlags.psh) }
            if i != 0 { flags &= ~TCPFlags.cwr }
            store8(out, l4 + 13, flags)
            checksumOffset = l4 + 16
        } else {
            store16(out, l4 + 4, UInt16(truncatingIfNeeded: l4Length))
            checksumOffset = l4 + 6
        }
        store16(out, checksumOffset, 0)
        var sum = InternetChecksum.sum(UnsafeRawBufferPointer(start: out + l4, count: transportHeaderLength), initial: pseudo)
        sum = InternetChecksum.sum(payload(i), initial: sum)
        var checksum = InternetChecksum.finish(sum)
        // A UDP checksum of 0 means "none": send its one's-complement twin.
        if !isTCP && checksum == 0 { checksum = 0xffff }
        store16(out, checksumOffset, checksum)
    }
}

/// Completes a virtio NEEDS_CSUM checksum in place: the field at `start + offset` holds the
/// pseudo-header sum; the checksum covers `start..<end` of the packet. A result of 0 is written as
/// 0xffff, its one's-complement twin, as the kernel does: to UDP, 0 would mean "no checksum".
@inline(__always)
public func completePartialChecksum(_ packet: UnsafeMutableRawBufferPointer, start: Int, offset: Int) throws(WireError) {
    // Compared by subtraction so that hostile values cannot overflow.
    guard start >= 0, offset >= 0, start <= packet.count, offset <= packet.count - start,
          packet.count - start - offset >= 2, let p = packet.baseAddress else { throw .gsoHeader }
    let sum = InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: packet[start...]))
    let checksum = InternetChecksum.finish(sum)
    store16(p, start + offset, checksum == 0 ? 0xffff : checksum)
}
