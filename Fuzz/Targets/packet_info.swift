// IPPacketInfo and UnderlayDatagram over any bytes: both refuse or return offsets and lengths that lie
// inside the bytes; the flow hash is a pure function of the fields.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPacketInfo(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    withFuzzBuffer(data, size) { b in
        if let info = try? IPPacketInfo(parsing: b) {
            fuzzCheck(info.length <= b.count && info.length >= (info.version == 4 ? 20 : 40), "info length")
            switch (info.version, info.source, info.destination) {
            case (4, .v4, .v4), (6, .v6, .v6): break
            default: fuzzFail("address family does not match the version")
            }
            if info.proto != IPProtocol.tcp && info.proto != IPProtocol.udp {
                fuzzCheck(info.sourcePort == 0 && info.destinationPort == 0, "ports for a port-less protocol")
            }
            var moved = info
            moved.length = 0
            fuzzCheck(moved.flowHash == info.flowHash, "flow hash depends on the length")
        }
        if let u = try? UnderlayDatagram(parsing: b) {
            fuzzCheck(u.payloadOffset >= 28 && u.payloadLength >= 0 && u.payloadOffset + u.payloadLength <= b.count,
                      "underlay payload range")
            // The UDP header in front of the payload says the same.
            let udp = try! UDPDatagram(UnsafeMutableRawBufferPointer(rebasing: b[(u.payloadOffset - 8)...]))
            fuzzCheck(udp.sourcePort == u.sourcePort && udp.destinationPort == u.destinationPort
                      && udp.length == u.payloadLength + 8, "underlay ports and length")
        }
    }
    return 0
}
