/// A view of a UDP header and its payload, the length field checked against the bytes.
public struct UDPDatagram {
    public static let headerLength = 8
    public let bytes: UnsafeMutableRawBufferPointer

    @inline(__always)
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPDatagram.headerLength, let p = bytes.baseAddress else { throw .truncated }
        let len = Int(load16(p, 4))
        // A length of 0 is legal only in IPv6 jumbograms, which Twill does not carry.
        guard len >= UDPDatagram.headerLength, len <= bytes.count else { throw .udpLength }
        self.bytes = bytes
    }

    public init(uncheckedForEmit bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPDatagram.headerLength, bytes.baseAddress != nil else { throw .bufferTooSmall }
        self.bytes = bytes
    }

    @inline(__always) var base: UnsafeMutableRawPointer { bytes.baseAddress.unsafelyUnwrapped }

    public var sourcePort: UInt16 {
        get { load16(base, 0) }
        nonmutating set { store16(base, 0, newValue) }
    }
    public var destinationPort: UInt16 {
        get { load16(base, 2) }
        nonmutating set { store16(base, 2, newValue) }
    }
    public var length: Int {
        get { Int(load16(base, 4)) }
        nonmutating set { store16(base, 4, UInt16(truncatingIfNeeded: newValue)) }
    }
    public var checksum: UInt16 {
        get { load16(base, 6) }
        nonmutating set { store16(base, 6, newValue) }
    }
    public var payload: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[UDPDatagram.headerLength..<length])
    }
}

/// The fields of a UDP header.
public struct UDPRepr: Equatable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payloadLength: Int

    public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadLength = payloadLength
    }

    public init(parsing d: UDPDatagram) {
        self.init(sourcePort: d.sourcePort, destinationPort: d.destinationPort,
                  payloadLength: d.length - UDPDatagram.headerLength)
    }

    /// Writes the header; the checksum is `checksum` (0 = none, allowed for IPv4 and for tunnels, RFC 6935).
    public func emit(into bytes: UnsafeMutableRawBufferPointer, checksum: UInt16 = 0) throws(WireError) {
        guard bytes.count >= UDPDatagram.headerLength, let p = bytes.baseAddress else { throw .bufferTooSmall }
        guard payloadLength >= 0, payloadLength <= 65535 - UDPDatagram.headerLength else { throw .udpLength }
        store16(p, 0, sourcePort)
        store16(p, 2, destinationPort)
        store16(p, 4, UInt16(payloadLength + UDPDatagram.headerLength))
        store16(p, 6, checksum)
    }
}
