// Byte-level readings of IP and TCP/UDP packets for the segmentation and coalescing targets, written
// apart from TwillWire's views: network-order reads and the byte-pair checksum reference only.

@inline(__always)
func be16(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }

@inline(__always)
func be32(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 { UInt32(be16(b, i)) << 16 | UInt32(be16(b, i + 2)) }

func storeBE16(_ b: UnsafeMutableRawBufferPointer, _ i: Int, _ v: Int) {
    b[i] = UInt8(truncatingIfNeeded: v >> 8)
    b[i + 1] = UInt8(truncatingIfNeeded: v)
}

/// The pseudo-header sum of `packet` for `proto` over the bytes from `transport` on; the addresses
/// come from the IPv4 or IPv6 header by the version nibble. The 32-bit length and a zero byte before
/// the protocol sum the same for IPv4 (RFC 793) and IPv6 (RFC 8200 8.1).
func referencePseudoSum(_ packet: UnsafeRawBufferPointer, transport: Int, proto: UInt8) -> UInt32 {
    let length = packet.count - transport
    var pseudo: [UInt8] = packet[0] >> 4 == 4 ? Array(packet[12..<20]) : Array(packet[8..<40])
    pseudo += [UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
               UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length), 0, proto]
    return pseudo.withUnsafeBytes { referenceSum($0) }
}

/// The TCP/UDP checksum verifies: pseudo-header and transport bytes sum to 0xffff.
func transportVerifies(_ packet: UnsafeRawBufferPointer, transport: Int, proto: UInt8) -> Bool {
    referenceSum(UnsafeRawBufferPointer(rebasing: packet[transport...]),
                 initial: referencePseudoSum(packet, transport: transport, proto: proto)) == 0xffff
}

/// Writes the TCP/UDP checksum (field at `transport + at`) by the reference.
func referenceFillTransportChecksum(_ packet: UnsafeMutableRawBufferPointer, transport: Int, at: Int, proto: UInt8) {
    storeBE16(packet, transport + at, 0)
    let r = UnsafeRawBufferPointer(packet)
    let sum = referenceSum(UnsafeRawBufferPointer(rebasing: r[transport...]),
                           initial: referencePseudoSum(r, transport: transport, proto: proto))
    storeBE16(packet, transport + at, Int(~UInt16(sum)))
}

/// The IPv4 header (IHL words) sums to 0xffff.
func ipv4HeaderVerifies(_ packet: UnsafeRawBufferPointer) -> Bool {
    let ihl = Int(packet[0] & 0x0f) * 4
    return ihl >= 20 && ihl <= packet.count && referenceSum(UnsafeRawBufferPointer(rebasing: packet[0..<ihl])) == 0xffff
}

/// Byte-for-byte equality of `a` and `b` over `range`.
func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
    range.allSatisfy { a[$0] == b[$0] }
}
