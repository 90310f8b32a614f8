// TCPRunSegment and TCPRun over fuzzer-made packet sequences, driven as the ingress loop drives them.
// A packet is a run segment exactly when a separate reading of the kernel's GRO rules says so; a run
// accepts exactly the segments those rules let join; what writeHeader writes (into a buffer of exactly
// maximumHeaderLength bytes) is, once the checksum is completed, a valid packet, and Superpacket cuts
// it back into the segments that went in, but for the fields a merge does not keep (IPv4 ID and
// header checksum, TCP checksum, urgent pointer). A run of one is the packet as it came.
//
// Input: records of a control byte, a 2-byte length, and that many body bytes. Control bit 0: the body
// is the payload of the next segment of the last run segment's flow (its headers copied, the sequence
// number advanced); bit 1, with bit 0: the first two body bytes are a header offset and a byte to XOR
// there; bit 5, with bit 0: the next body byte plus one is how many times the rest of the body
// repeats. Bit 2 sets the IP length field from the bytes, bit 3 recomputes the IPv4 header checksum,
// bit 4 the TCP checksum (both by the reference).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCoalesce(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var packets: [UnsafeMutableRawBufferPointer] = []
    defer { packets.forEach { $0.deallocate() } }
    var lastSegment: UnsafeRawBufferPointer? = nil
    var i = 0
    while packets.count < 64 && i + 3 <= size {
        let control = data[i]
        let length = min(Int(data[i + 1]) << 8 | Int(data[i + 2]), size - i - 3)
        var body = Array(UnsafeBufferPointer(start: data + i + 3, count: length))
        i += 3 + length
        var bytes: [UInt8]
        if control & 1 != 0, let prev = lastSegment, let shape = runShape(prev) {
            var header = Array(prev[0..<shape.headers])
            let sequence = be32(prev, shape.ip + 4) &+ UInt32(prev.count - shape.headers)
            for k in 0..<4 { header[shape.ip + 4 + k] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * k)) }
            if control & 2 != 0 && body.count >= 2 {
                header[Int(body[0]) % header.count] ^= body[1]
                body.removeFirst(2)
            }
            // Repeated, a short body makes the long segments that reach the 65535-byte limit.
            if control & 32 != 0 && body.count >= 2 {
                let times = Int(body[0]) + 1
                body.removeFirst()
                body = Array([[UInt8]](repeating: body, count: times).joined())
            }
            bytes = header + body
        } else {
            bytes = body
        }
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        p.copyBytes(from: bytes)
        packets.append(p)
        repair(p, control)
        if runShape(UnsafeRawBufferPointer(p)) != nil { lastSegment = UnsafeRawBufferPointer(p) }
    }
    var run = TCPRun()
    var members: [UnsafeRawBufferPointer] = []
    for p in packets.map(UnsafeRawBufferPointer.init) {
        let shape = runShape(p)
        guard let s = TCPRunSegment(p) else {
            fuzzCheck(shape == nil, "a run segment by the rules refused")
            close(&run, &members)
            continue
        }
        guard let shape else { fuzzFail("a packet the rules refuse taken as a run segment") }
        fuzzCheck(s.version == p[0] >> 4 && s.ipHeaderLength == shape.ip && s.headerLength == shape.headers
                  && s.payloadLength == p.count - shape.headers && s.sequence == be32(p, shape.ip + 4)
                  && s.flags == p[shape.ip + 13] && s.base == p.baseAddress, "run segment fields")
        if !run.isEmpty {
            let joins = run.accepts(s)
            fuzzCheck(joins == mayJoin(members, p), "accepts says \(joins) after \(members.count) segments")
            if joins {
                run.append(s)
                members.append(p)
                continue
            }
            close(&run, &members)
        }
        run.start(s)
        members = [p]
    }
    close(&run, &members)
    return 0
}

/// Applies the control byte's repairs to a built packet.
private func repair(_ p: UnsafeMutableRawBufferPointer, _ control: UInt8) {
    guard p.count >= 20 else { return }
    let version = p[0] >> 4
    if control & 4 != 0 {
        if version == 4 && p.count <= 65535 { storeBE16(p, 2, p.count) }
        if version == 6 && p.count >= 40 && p.count - 40 <= 65535 { storeBE16(p, 4, p.count - 40) }
    }
    let ihl = Int(p[0] & 0x0f) * 4
    if control & 8 != 0 && version == 4 && ihl >= 20 && ihl <= p.count {
        storeBE16(p, 10, 0)
        storeBE16(p, 10, Int(~UInt16(referenceSum(UnsafeRawBufferPointer(rebasing: p[0..<ihl])))))
    }
    let t = version == 4 ? ihl : 40
    if control & 16 != 0 && (version == 4 || version == 6) && t >= 20 && t + 18 <= p.count {
        referenceFillTransportChecksum(p, transport: t, at: 16, proto: IPProtocol.tcp)
    }
}

/// The GRO rules for one packet: a plain ACK or PSH|ACK segment with data and a valid checksum, over
/// IPv4 without options or fragmentation and with a valid header checksum (inet_gro_receive checks
/// it), or IPv6 with TCP right behind the fixed header. Returns the IP and IP+TCP header lengths.
private func runShape(_ p: UnsafeRawBufferPointer) -> (ip: Int, headers: Int)? {
    guard p.count >= 40 else { return nil }
    let ip: Int
    if p[0] >> 4 == 4 {
        guard p[0] == 0x45, p[9] == IPProtocol.tcp, be16(p, 2) == p.count, be16(p, 6) & 0x3fff == 0,
              ipv4HeaderVerifies(p) else { return nil }
        ip = 20
    } else if p[0] >> 4 == 6 {
        guard p.count >= 60, p[6] == IPProtocol.tcp, be16(p, 4) + 40 == p.count else { return nil }
        ip = 40
    } else {
        return nil
    }
    let tcp = Int(p[ip + 12] >> 4) * 4
    guard tcp >= 20, ip + tcp < p.count, p[ip + 13] & ~TCPFlags.psh == TCPFlags.ack,
          transportVerifies(p, transport: ip, proto: IPProtocol.tcp) else { return nil }
    return (ip, ip + tcp)
}

/// The GRO rules for a segment joining `members`: nothing after a PSH or a short segment; the same
/// addresses, ports, ACK, TOS/traffic class and flow label, TTL/hop limit, DF (and without DF, IPv4
/// IDs counting up), reserved bits, window and options; the next
/// sequence number; no more payload than the first; the result within 65535 bytes of IP length field.
private func mayJoin(_ members: [UnsafeRawBufferPointer], _ s: UnsafeRawBufferPointer) -> Bool {
    let f = members[0], last = members[members.count - 1]
    guard let fs = runShape(f), let ls = runShape(last), let ss = runShape(s) else { fuzzFail("members not run segments") }
    let firstPayload = f.count - fs.headers, lastPayload = last.count - ls.headers, payload = s.count - ss.headers
    if last[ls.ip + 13] & TCPFlags.psh != 0 || lastPayload < firstPayload { return false }
    guard f[0] >> 4 == s[0] >> 4, fs.headers == ss.headers, payload <= firstPayload,
          be32(s, ss.ip + 4) == be32(last, ls.ip + 4) &+ UInt32(lastPayload) else { return false }
    let total = members.reduce(0) { $0 + $1.count - fs.headers } + payload
    let t = fs.ip
    if t == 20 {
        guard fs.headers + total <= 65535, f[1] == s[1], sameBytes(f, s, 6..<9), sameBytes(f, s, 12..<20) else { return false }
        // Without DF the IPv4 IDs must count up by one per segment (inet_gro_receive's flush_id).
        if f[6] & 0x40 == 0 && UInt16(s[4]) << 8 | UInt16(s[5]) != (UInt16(f[4]) << 8 | UInt16(f[5])) &+ UInt16(members.count) {
            return false
        }
    } else {
        guard fs.headers - 40 + total <= 65535, sameBytes(f, s, 0..<4), f[7] == s[7], sameBytes(f, s, 8..<40) else { return false }
    }
    // Ports, ACK, then data offset, reserved bits, flags and window as one word but for CWR, FIN and
    // PSH (tcp_gro_receive; only ACK and PSH get this far), then the options.
    return sameBytes(f, s, t..<(t + 4)) && sameBytes(f, s, (t + 8)..<(t + 13)) && sameBytes(f, s, (t + 14)..<(t + 16))
        && sameBytes(f, s, (t + 20)..<fs.headers)
}

/// Writes the open run and checks what was written, then empties it.
private func close(_ run: inout TCPRun, _ members: inout [UnsafeRawBufferPointer]) {
    guard !run.isEmpty else { return }
    defer {
        run.reset()
        members = []
    }
    let f = members[0]
    guard let shape = runShape(f) else { fuzzFail("first member not a run segment") }
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: TCPRun.maximumHeaderLength, alignment: 1)
    defer { out.deallocate() }
    let n = run.writeHeader(into: out.baseAddress!)
    fuzzCheck(n == VirtioNetHeader.length + shape.headers, "writeHeader wrote \(n) bytes")
    let vnet = try! VirtioNetHeader(parsing: UnsafeRawBufferPointer(out))
    let payloads = members.map { UnsafeRawBufferPointer(rebasing: $0[shape.headers...]) }
    let merged = UnsafeMutableRawBufferPointer.allocate(byteCount: shape.headers + payloads.reduce(0) { $0 + $1.count }, alignment: 1)
    defer { merged.deallocate() }
    merged.copyMemory(from: UnsafeRawBufferPointer(rebasing: out[VirtioNetHeader.length..<n]))
    var at = shape.headers
    for piece in payloads {
        UnsafeMutableRawBufferPointer(rebasing: merged[at...]).copyMemory(from: piece)
        at += piece.count
    }
    let m = UnsafeRawBufferPointer(merged)
    if members.count == 1 {
        fuzzCheck(vnet == VirtioNetHeader() && sameBytes(m, f, 0..<f.count), "a run of one changed")
        return
    }
    let t = shape.ip
    fuzzCheck(vnet == VirtioNetHeader(flags: VirtioNetHeader.flagNeedsChecksum,
                                      gsoType: t == 20 ? VirtioNetHeader.gsoTCPv4 : VirtioNetHeader.gsoTCPv6,
                                      headerLength: UInt16(shape.headers), gsoSize: UInt16(f.count - shape.headers),
                                      checksumStart: UInt16(t), checksumOffset: 16), "virtio header \(vnet)")
    // The field holds the pseudo-header sum; the kernel completes it over the TCP bytes.
    fuzzCheck(be16(m, t + 16) == Int(referencePseudoSum(m, transport: t, proto: IPProtocol.tcp)), "pseudo-header sum")
    storeBE16(merged, t + 16, Int(~UInt16(referenceSum(UnsafeRawBufferPointer(rebasing: m[t...])))))
    fuzzCheck(runShape(m) != nil, "the completed run is not a valid plain segment")
    fuzzCheck(m[t + 13] == f[t + 13] | (members[members.count - 1][t + 13] & TCPFlags.psh), "merged flags")
    // Cut again as the kernel would when forwarding it: the segments that went in.
    guard let sp = try? Superpacket(packet: m, header: vnet) else { fuzzFail("the run is refused as a superpacket") }
    fuzzCheck(sp.segmentCount == members.count, "\(members.count) segments came back as \(sp.segmentCount)")
    let segment = UnsafeMutableRawBufferPointer.allocate(byteCount: shape.headers, alignment: 1)
    defer { segment.deallocate() }
    for (k, original) in members.enumerated() {
        sp.writeHeaders(k, into: segment.baseAddress!)
        let h = UnsafeRawBufferPointer(segment)
        let kept = t == 20
            ? sameBytes(h, original, 0..<4) && sameBytes(h, original, 6..<10) && sameBytes(h, original, 12..<20)
            : sameBytes(h, original, 0..<40)
        fuzzCheck(kept && sameBytes(h, original, t..<(t + 16)) && sameBytes(h, original, (t + 20)..<shape.headers),
                  "segment \(k) header differs")
        let piece = sp.payload(k)
        fuzzCheck(piece.count == original.count - shape.headers
                  && sameBytes(piece, UnsafeRawBufferPointer(rebasing: original[shape.headers...]), 0..<piece.count),
                  "segment \(k) payload differs")
    }
}
