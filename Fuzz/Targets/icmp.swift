// ICMP error builders over any original: every error built is well formed (lengths, both checksums,
// the quote) and none is sent where RFC 1122/4443 forbid one. The first byte sizes the output buffer.
private let router4 = IPv4Address(10, 244, 1, 1)
private let router6 = IPv6Address(high: 0xfd00_0000_0000_0000, low: 0xfe)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzICMP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let room = Int(data[0]) * 8
    withFuzzBuffer(data + 1, size - 1) { original in
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: room, alignment: 1)
        defer { out.deallocate() }
        let n4 = ICMPError.buildIPv4(type: 3, code: 1, original: original, source: router4, into: out)
        if n4 > 0 { checkIPv4(UnsafeRawBufferPointer(rebasing: out[0..<n4]), original) }
        let n6 = ICMPError.buildIPv6(type: 1, code: 3, original: original, source: router6, into: out)
        if n6 > 0 { checkIPv6(UnsafeRawBufferPointer(rebasing: out[0..<n6]), original) }
    }
    return 0
}

private func checkIPv4(_ e: UnsafeRawBufferPointer, _ original: UnsafeMutableRawBufferPointer) {
    fuzzCheck(e.count <= ICMPError.maximumIPv4Length && e.count >= 28, "IPv4 error length \(e.count)")
    fuzzCheck(referenceSum(UnsafeRawBufferPointer(rebasing: e[0..<20])) == 0xffff, "IPv4 header checksum")
    fuzzCheck(referenceSum(UnsafeRawBufferPointer(rebasing: e[20...])) == 0xffff, "ICMP checksum")
    let ip = try! IPv4Packet(original)
    fuzzCheck(ip.totalLength >= e.count - 28, "quote longer than the original")
    fuzzCheck(sameBytes(UnsafeRawBufferPointer(rebasing: e[28...]), UnsafeRawBufferPointer(original)), "quote differs")
    fuzzCheck(!ip.destination.isMulticast && ip.destination.value != 0xffff_ffff, "error about multicast/broadcast")
    fuzzCheck(ip.flagsAndFragmentOffset & 0x1fff == 0, "error about a non-first fragment")
    if ip.proto == IPProtocol.icmp {
        let t = original[ip.headerLength]
        fuzzCheck([0, 8, 13, 14].contains(t), "error about ICMP type \(t)")
    }
}

private func checkIPv6(_ e: UnsafeRawBufferPointer, _ original: UnsafeMutableRawBufferPointer) {
    fuzzCheck(e.count <= ICMPError.maximumIPv6Length && e.count >= 48, "IPv6 error length \(e.count)")
    let ip = try! IPv6Packet(original)
    let pseudo = InternetChecksum.pseudoHeaderSum(source: router6, destination: ip.source, proto: IPProtocol.icmpv6,
                                                  length: e.count - 40)
    fuzzCheck(referenceSum(UnsafeRawBufferPointer(rebasing: e[40...]), initial: pseudo) == 0xffff, "ICMPv6 checksum")
    fuzzCheck(ip.totalLength >= e.count - 48, "quote longer than the original")
    fuzzCheck(sameBytes(UnsafeRawBufferPointer(rebasing: e[48...]), UnsafeRawBufferPointer(original)), "quote differs")
    fuzzCheck(!ip.destination.isMulticast && !ip.source.isMulticast, "error about multicast")
    guard let w = try? ip.walkExtensionHeaders() else { fuzzFail("error about an unwalkable chain") }
    fuzzCheck(!w.nonFirstFragment, "error about a non-first fragment")
    if w.proto == IPProtocol.icmpv6 {
        let t = original[w.offset]
        fuzzCheck(t >= 128 && t != 137, "error about ICMPv6 type \(t)")
    }
}

/// Whether `quote` is a prefix of `original`.
private func sameBytes(_ quote: UnsafeRawBufferPointer, _ original: UnsafeRawBufferPointer) -> Bool {
    guard quote.count <= original.count else { return false }
    for i in 0..<quote.count where quote[i] != original[i] { return false }
    return true
}
