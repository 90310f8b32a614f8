// Every header view and Repr over any bytes: accessors stay inside the bytes, and what parses
// re-emits and re-parses to the same fields. The first bytes also drive emitters with hostile
// lengths and offsets, which must refuse rather than trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHeaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    withFuzzBuffer(data, size) { b in
        if let eth = try? EthernetFrame(b) {
            let r = EthernetRepr(parsing: eth)
            fuzzCheck(eth.payload.count == b.count - 14, "Ethernet payload")
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 14, alignment: 1)
            defer { out.deallocate() }
            let outFrame = try! EthernetFrame(out)
            r.emit(into: outFrame)
            fuzzCheck(EthernetRepr(parsing: outFrame) == r, "Ethernet round trip")
        }
        if let ip = try? IPv4Packet(b) {
            fuzzCheck(ip.headerLength >= 20 && ip.headerLength <= ip.totalLength && ip.totalLength <= b.count, "IPv4 lengths")
            _ = (ip.packet.count, ip.payload.count, ip.header.count, ip.headerChecksumIsValid, ip.isFragment)
            let r = IPv4Repr(parsing: ip)
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 20 + r.payloadLength, alignment: 1)
            defer { out.deallocate() }
            out.initializeMemory(as: UInt8.self, repeating: 0)
            guard (try? r.emit(into: out)) != nil else { fuzzFail("IPv4 emit refused a parsed header") }
            guard let back = try? IPv4Packet(out) else { fuzzFail("emitted IPv4 refused") }
            fuzzCheck(back.headerChecksumIsValid, "emitted IPv4 checksum")
            fuzzCheck(IPv4Repr(parsing: back) == r, "IPv4 round trip")
        }
        if let ip = try? IPv6Packet(b) {
            fuzzCheck(ip.totalLength <= b.count, "IPv6 length")
            if let t = try? ip.transport() { fuzzCheck(t.offset >= 40 && t.offset <= ip.totalLength, "IPv6 transport offset") }
            let r = IPv6Repr(parsing: ip)
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 40 + r.payloadLength, alignment: 1)
            defer { out.deallocate() }
            guard (try? r.emit(into: out)) != nil else { fuzzFail("IPv6 emit refused a parsed header") }
            guard let back = try? IPv6Packet(out) else { fuzzFail("emitted IPv6 refused") }
            fuzzCheck(IPv6Repr(parsing: back) == r, "IPv6 round trip")
        }
        if let u = try? UDPDatagram(b) {
            fuzzCheck(u.payload.count == u.length - 8, "UDP payload")
            let r = UDPRepr(parsing: u)
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 + r.payloadLength, alignment: 1)
            defer { out.deallocate() }
            guard (try? r.emit(into: out, checksum: u.checksum)) != nil else { fuzzFail("UDP emit refused") }
            guard let back = try? UDPDatagram(out) else { fuzzFail("emitted UDP refused") }
            fuzzCheck(UDPRepr(parsing: back) == r && back.checksum == u.checksum, "UDP round trip")
        }
        if let t = try? TCPSegment(b) {
            fuzzCheck(t.options.count == t.headerLength - 20 && t.payload.count == b.count - t.headerLength, "TCP lengths")
            _ = (t.sequenceNumber, t.acknowledgmentNumber, t.flags, t.window, t.checksum, t.urgentPointer)
        }
        if let v = try? VXLANHeader(b) { _ = (v.flags, v.vni, v.hasValidVNI, v.payload.count) }
        if let m = try? ICMPMessage(b) { _ = (m.type, m.code, m.checksum, m.restOfHeader, m.body.count) }
        if let h = try? VirtioNetHeader(parsing: UnsafeRawBufferPointer(b)) {
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 10, alignment: 1)
            defer { out.deallocate() }
            try! h.emit(into: out)
            fuzzCheck(try! VirtioNetHeader(parsing: UnsafeRawBufferPointer(out)) == h, "virtio round trip")
        }
        hostileEmitters(UnsafeRawBufferPointer(b))
    }
    return 0
}

/// Emitters and the encapsulator with fuzzer-chosen offsets and lengths, from tiny to extreme.
private func hostileEmitters(_ input: UnsafeRawBufferPointer) {
    var r = ParameterReader(input)
    func length() -> Int {
        let k = r.byte()
        switch k & 7 {
        case 0: return Int.max - Int(r.byte())
        case 1: return Int.min + Int(r.byte())
        case 2: return -Int(r.byte())
        default: return Int(r.u16()) + (k & 8 != 0 ? 65000 : 0)
        }
    }
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(r.byte()), alignment: 1)
    defer { out.deallocate() }
    _ = try? IPv4Repr(source: IPv4Address(1), destination: IPv4Address(2), proto: 17, payloadLength: length()).emit(into: out)
    _ = try? IPv6Repr(source: IPv6Address(high: 1, low: 1), destination: IPv6Address(high: 2, low: 2), nextHeader: 17,
                      payloadLength: length()).emit(into: out)
    _ = try? UDPRepr(sourcePort: 1, destinationPort: 2, payloadLength: length()).emit(into: out)
    _ = try? UnderlayDatagram.emitIPv4(into: out, payloadOffset: length(), payloadLength: length(),
                                       source: IPv4Address(1), destination: IPv4Address(2), sourcePort: 1, destinationPort: 2)
    for format in EncapsulationFormat.allCases {
        let offset = length()
        let len = length()
        if let start = try? Encapsulator(format: format).encapsulate(out, innerOffset: offset, innerLength: len,
                                                                     innerVersion: r.byte() >> 4, peerMAC: MACAddress(7)) {
            fuzzCheck(start >= 0 && start <= offset && offset - start == format.headerLength, "encapsulation start")
        }
    }
    let e = Encapsulator(format: .vxlan, sourcePorts: min(r.u16(), 65535)...65535)
    fuzzCheck(e.sourcePorts.contains(e.sourcePort(flowHash: r.u32())), "source port out of range")
}
