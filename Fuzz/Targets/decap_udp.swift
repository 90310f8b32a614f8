// Decapsulation, udp format: any bytes, as a UDP payload from anyone.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecapUDP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    withFuzzBuffer(data, size) { b in
        let d = Decapsulator(format: .udp)
        guard let p = try? d.decapsulate(b) else { return }
        fuzzCheck(p.offset == 0, "offset \(p.offset)")
        fuzzCheck(p.length <= b.count, "length \(p.length) > \(b.count)")
        fuzzCheck(p.length >= (p.info.version == 4 ? 20 : 40), "short packet accepted")
        // The accepted packet, cut from its padding, parses to the same fields.
        let inner = UnsafeMutableRawBufferPointer(rebasing: b[0..<p.length])
        guard let again = try? IPPacketInfo(parsing: inner) else { fuzzFail("packet alone refused") }
        fuzzCheck(again == p.info, "fields changed without the padding")
        _ = p.info.flowHash
    }
    return 0
}
