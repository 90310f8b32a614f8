// Superpacket over any virtio header and packet. It refuses exactly what a separate reading of the
// rules refuses; what it accepts it cuts into segments that cover the payload once, in place, each
// with lengths and checksums that verify by the byte-pair reference, IPv4 ID +i, sequence +i*gso,
// FIN/PSH only on the last and CWR only on the first, every other header byte as it came; and each
// plain data segment it writes is one the coalescer takes. completePartialChecksum (the egress path
// for NEEDS_CSUM without GSO) refuses fields outside the packet and otherwise leaves a checksum that
// verifies and is never 0.
//
// Input: a control byte, the 10-byte virtio header (host order), then the IP packet. Control bit 0
// sets the IP length field from the bytes, bit 1 sets csum_start to where the IP header ends, bit 2
// runs completePartialChecksum on a copy first.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSegment(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 11 else { return 0 }
    let control = data[0]
    var header = try! VirtioNetHeader(parsing: UnsafeRawBufferPointer(start: data + 1, count: VirtioNetHeader.length))
    withFuzzBuffer(data + 11, size - 11) { packet in
        let version = packet.count > 0 ? packet[0] >> 4 : 0
        if control & 1 != 0 {
            if version == 4 && packet.count >= 4 && packet.count <= 65535 { storeBE16(packet, 2, packet.count) }
            if version == 6 && packet.count >= 40 && packet.count - 40 <= 65535 { storeBE16(packet, 4, packet.count - 40) }
        }
        if control & 2 != 0 && packet.count > 0 {
            header.checksumStart = version == 4 ? UInt16(packet[0] & 0x0f) * 4 : 40
        }
        if control & 4 != 0 { checkCompletion(UnsafeRawBufferPointer(packet), header) }
        checkSegmentation(UnsafeRawBufferPointer(packet), header)
    }
    return 0
}

private func checkCompletion(_ packet: UnsafeRawBufferPointer, _ h: VirtioNetHeader) {
    let start = Int(h.checksumStart), offset = Int(h.checksumOffset)
    let fits = start + offset + 2 <= packet.count
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: packet.count, alignment: 1)
    defer { copy.deallocate() }
    if packet.count > 0 { copy.copyMemory(from: packet) }
    let field = fits ? UInt32(be16(packet, start + offset)) : 0
    do {
        try completePartialChecksum(copy, start: start, offset: offset)
    } catch {
        fuzzCheck(!fits && error == .gsoHeader, "completion refused \(error) for start \(start) offset \(offset) in \(packet.count)")
        return
    }
    fuzzCheck(fits, "completion wrote outside the packet")
    let c = UnsafeRawBufferPointer(copy)
    fuzzCheck(sameBytes(packet, c, 0..<(start + offset)) && sameBytes(packet, c, (start + offset + 2)..<packet.count),
              "completion changed more than its field")
    // At an even offset the old field (the pseudo-header sum) plus the range must now verify.
    if offset % 2 == 0 {
        fuzzCheck(referenceSum(UnsafeRawBufferPointer(rebasing: c[start...]), initial: field) == 0xffff, "completed sum")
    }
    // A checksum that computes to 0 goes out as 0xffff (0 is "none" for UDP over IPv4, invalid over IPv6).
    fuzzCheck(be16(c, start + offset) != 0, "completed checksum 0")
}

/// What a separate reading of the GSO rules makes of the packet: nil when it must be refused.
private func expectedShape(_ p: UnsafeRawBufferPointer, _ h: VirtioNetHeader) -> (tcp: Bool, ip: Int, transport: Int)? {
    guard p.count >= 1, h.gsoSize > 0 else { return nil }
    let version = p[0] >> 4
    let type = h.gsoType & 0x7f
    let tcp: Bool
    if type == 1 && version == 4 || type == 4 && version == 6 {
        tcp = true
    } else if type == 5 && (version == 4 || version == 6) {
        tcp = false
    } else {
        return nil
    }
    let start = Int(h.checksumStart)
    if version == 4 {
        guard p.count >= 20, start == Int(p[0] & 0x0f) * 4, start >= 20, be16(p, 2) == p.count,
              p[9] == (tcp ? 6 : 17) else { return nil }
    } else {
        guard p.count >= 40, start >= 40, be16(p, 4) + 40 == p.count,
              let chain = ipv6Transport(p), chain.offset == start, chain.proto == (tcp ? 6 : 17) else { return nil }
    }
    guard start + (tcp ? 20 : 8) <= p.count else { return nil }
    let transport = tcp ? Int(p[start + 12] >> 4) * 4 : 8
    guard transport >= (tcp ? 20 : 8), start + transport <= p.count else { return nil }
    return (tcp, start, transport)
}

/// Where an IPv6 packet's transport header starts, walking at most 8 extension headers (hop-by-hop,
/// routing, destination options: (len + 1) * 8 bytes; AH: (len + 2) * 4; fragment: 8). Nil for a
/// chain that runs past the packet or is longer, and for any fragment.
private func ipv6Transport(_ p: UnsafeRawBufferPointer) -> (proto: UInt8, offset: Int)? {
    var next = p[6], at = 40
    for _ in 0...8 {
        switch next {
        case 0, 43, 60, 51, 44:
            guard at + 8 <= p.count else { return nil }
            let length = next == 44 ? 8 : next == 51 ? (Int(p[at + 1]) + 2) * 4 : (Int(p[at + 1]) + 1) * 8
            guard at + length <= p.count else { return nil }
            if next == 44 && (be16(p, at + 2) >> 3 != 0 || be16(p, at + 2) & 1 != 0) { return nil }
            next = p[at]
            at += length
        default:
            return (next, at)
        }
    }
    return nil
}

private func checkSegmentation(_ packet: UnsafeRawBufferPointer, _ h: VirtioNetHeader) {
    let shape = expectedShape(packet, h)
    let sp = try? Superpacket(packet: packet, header: h)
    fuzzCheck((sp == nil) == (shape == nil), "Superpacket \(sp == nil ? "refused" : "accepted"), the rules say otherwise")
    guard let sp, let shape else { return }
    let gso = Int(h.gsoSize)
    let hl = shape.ip + shape.transport
    let payload = packet.count - hl
    fuzzCheck(sp.isTCP == shape.tcp && sp.ipHeaderLength == shape.ip && sp.transportHeaderLength == shape.transport
              && sp.headerLength == hl && sp.payloadLength == payload && sp.segmentPayload == gso
              && sp.segmentCount == max(1, (payload + gso - 1) / gso) && sp.version == packet[0] >> 4, "superpacket fields")
    let t = shape.ip
    let headers = UnsafeMutableRawBufferPointer.allocate(byteCount: hl, alignment: 1)
    defer { headers.deallocate() }
    var covered = 0
    for i in 0..<sp.segmentCount {
        let count = sp.payloadCount(i)
        let last = i == sp.segmentCount - 1
        fuzzCheck(count >= 0 && count <= gso && (last || count == gso), "payload count \(count) of segment \(i)")
        let piece = sp.payload(i)
        fuzzCheck(piece.count == count && piece.baseAddress == packet.baseAddress! + hl + covered, "payload \(i) not in place")
        covered += count
        sp.writeHeaders(i, into: headers.baseAddress!)
        let segment = UnsafeMutableRawBufferPointer.allocate(byteCount: hl + count, alignment: 1)
        defer { segment.deallocate() }
        segment.copyMemory(from: UnsafeRawBufferPointer(headers))
        if count > 0 { UnsafeMutableRawBufferPointer(rebasing: segment[hl...]).copyMemory(from: piece) }
        let s = UnsafeRawBufferPointer(segment)
        if sp.version == 4 {
            fuzzCheck(be16(s, 2) == s.count && be16(s, 4) == (be16(packet, 4) + i) & 0xffff && ipv4HeaderVerifies(s),
                      "IPv4 header of segment \(i)")
            fuzzCheck(sameBytes(packet, s, 0..<2) && sameBytes(packet, s, 6..<10) && sameBytes(packet, s, 12..<t), "IPv4 header kept")
        } else {
            fuzzCheck(be16(s, 4) == s.count - 40, "IPv6 payload length of segment \(i)")
            fuzzCheck(sameBytes(packet, s, 0..<4) && sameBytes(packet, s, 6..<t), "IPv6 header kept")
        }
        if sp.isTCP {
            fuzzCheck(be32(s, t + 4) == be32(packet, t + 4) &+ UInt32(i * gso), "sequence of segment \(i)")
            var flags = packet[t + 13]
            if !last { flags &= ~(TCPFlags.fin | TCPFlags.psh) }
            if i != 0 { flags &= ~TCPFlags.cwr }
            fuzzCheck(s[t + 13] == flags, "flags of segment \(i)")
            fuzzCheck(sameBytes(packet, s, t..<(t + 4)) && sameBytes(packet, s, (t + 8)..<(t + 13))
                      && sameBytes(packet, s, (t + 14)..<(t + 16)) && sameBytes(packet, s, (t + 18)..<hl), "TCP header kept")
            fuzzCheck(transportVerifies(s, transport: t, proto: IPProtocol.tcp), "TCP checksum of segment \(i)")
            checkRunSegment(s, ip: t, flags: flags, payload: count)
        } else {
            fuzzCheck(be16(s, t + 4) == s.count - t && sameBytes(packet, s, t..<(t + 4)), "UDP header of segment \(i)")
            fuzzCheck(be16(s, t + 6) != 0 && transportVerifies(s, transport: t, proto: IPProtocol.udp), "UDP checksum of segment \(i)")
        }
    }
    fuzzCheck(covered == payload, "segments cover \(covered) of \(payload) bytes")
}

/// A segment the segmenter wrote is a run segment exactly when it is a plain data segment of a plain
/// IPv4 (no options, not a fragment) or IPv6 (TCP right behind the fixed header) packet.
private func checkRunSegment(_ s: UnsafeRawBufferPointer, ip: Int, flags: UInt8, payload: Int) {
    let plainIP = s[0] >> 4 == 4 ? s[0] == 0x45 && be16(s, 6) & 0x3fff == 0 : s[6] == IPProtocol.tcp && ip == 40
    let plain = plainIP && payload > 0 && flags & ~TCPFlags.psh == TCPFlags.ack
    fuzzCheck((TCPRunSegment(s) != nil) == plain, "a written segment \(plain ? "refused" : "taken") by the coalescer")
}
