// Decapsulation, vxlan format (VNI 42, our VTEP MAC 02:42:0a:f4:02:00): any bytes as a UDP payload.
private let ourMAC = MACAddress(0x0242_0af4_0200)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecapVXLAN(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    withFuzzBuffer(data, size) { b in
        let d = Decapsulator(format: .vxlan, vni: 42, localMAC: ourMAC)
        guard let p = try? d.decapsulate(b) else { return }
        fuzzCheck(p.offset == 22, "offset \(p.offset)")
        fuzzCheck(p.offset + p.length <= b.count, "packet past the bytes")
        let vx = try! VXLANHeader(b)
        fuzzCheck(vx.hasValidVNI && vx.vni == 42, "bad VXLAN header accepted")
        let eth = try! EthernetFrame(vx.payload)
        fuzzCheck(eth.destination == ourMAC, "foreign MAC accepted")
        fuzzCheck(eth.etherType == (p.info.version == 4 ? EtherType.ipv4 : EtherType.ipv6), "EtherType mismatch accepted")
        // Re-encapsulating the inner packet from the sender's MAC gives a payload that decodes the same.
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: 22 + p.length, alignment: 1)
        defer { copy.deallocate() }
        copy.baseAddress!.advanced(by: 22).copyMemory(from: b.baseAddress!.advanced(by: 22), byteCount: p.length)
        let e = Encapsulator(format: .vxlan, vni: 42, localMAC: eth.source)
        guard let start = try? e.encapsulate(copy, innerOffset: 22, innerLength: p.length, innerVersion: p.info.version,
                                             peerMAC: ourMAC), start == 0 else { fuzzFail("re-encapsulation failed") }
        guard let again = try? d.decapsulate(copy) else { fuzzFail("re-encapsulated packet refused") }
        fuzzCheck(again == p, "re-encapsulated packet decodes differently")
    }
    return 0
}
