/// A whole underlay datagram as seen on the wire (outer IPv4/IPv6 + UDP), for raw captures and
/// raw sends. The normal datapath uses UDP sockets and never sees these headers.
public struct UnderlayDatagram: Equatable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// Offset and length of the UDP payload within the parsed bytes.
    public var payloadOffset: Int
    public var payloadLength: Int

    /// Parses outer IP and UDP headers, checking each length against the bytes.
    public init(parsing bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= 1, let p = bytes.baseAddress else { throw .truncated }
        let udpStart: Int
        let udpEnd: Int
        switch load8(p, 0) >> 4 {
        case 4:
            let ip = try IPv4Packet(bytes)
            guard ip.proto == IPProtocol.udp, !ip.isFragment else { throw .notUDP }
            source = .v4(ip.source)
            destination = .v4(ip.destination)
            udpStart = ip.headerLength
            udpEnd = ip.totalLength
        case 6:
            let ip = try IPv6Packet(bytes)
            let t = try ip.transport()
            guard t.proto == IPProtocol.udp else { throw .notUDP }
            source = .v6(ip.source)
            destination = .v6(ip.destination)
            udpStart = t.offset
            udpEnd = ip.totalLength
        default:
            throw .notIP
        }
        let udp = try UDPDatagram(UnsafeMutableRawBufferPointer(rebasing: bytes[udpStart..<udpEnd]))
        sourcePort = udp.sourcePort
        destinationPort = udp.destinationPort
        payloadOffset = udpStart + UDPDatagram.headerLength
        payloadLength = udp.length - UDPDatagram.headerLength
    }

    /// Writes outer IPv4 and UDP headers (UDP checksum 0, as tunnels may) in the 28 bytes in front of a
    /// payload at `payloadOffset..<payloadOffset+payloadLength`. Returns the offset of the IPv4 header.
    public static func emitIPv4(into buffer: UnsafeMutableRawBufferPointer, payloadOffset: Int, payloadLength: Int,
                                source: IPv4Address, destination: IPv4Address, sourcePort: UInt16,
                                destinationPort: UInt16, ttl: UInt8 = 64) throws(WireError) -> Int {
        // Compared so that no pair of arguments can overflow and trap.
        guard payloadOffset >= IPv4Repr.headerLength + UDPDatagram.headerLength else { throw .headroomTooSmall }
        let start = payloadOffset - IPv4Repr.headerLength - UDPDatagram.headerLength
        guard payloadLength >= 0, payloadOffset <= buffer.count, payloadLength <= buffer.count - payloadOffset else {
            throw .bufferTooSmall
        }
        let udpLength = UDPDatagram.headerLength + payloadLength
        try IPv4Repr(source: source, destination: destination, proto: IPProtocol.udp, payloadLength: udpLength,
                     ttl: ttl).emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
        try UDPRepr(sourcePort: sourcePort, destinationPort: destinationPort, payloadLength: payloadLength)
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[(start + IPv4Repr.headerLength)...]))
        return start
    }
}
