/// TCP flag bits (low byte of the flags field).
public enum TCPFlags {
    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ack: UInt8 = 0x10
    public static let urg: UInt8 = 0x20
    public static let ece: UInt8 = 0x40
    public static let cwr: UInt8 = 0x80
}

/// A view of a TCP header: the fields segmentation and coalescing need, the data offset checked.
public struct TCPSegment {
    public static let minimumHeaderLength = 20
    public let bytes: UnsafeMutableRawBufferPointer

    @inline(__always)
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= TCPSegment.minimumHeaderLength, let p = bytes.baseAddress else { throw .truncated }
        let hl = Int(load8(p, 12) >> 4) * 4
        guard hl >= TCPSegment.minimumHeaderLength, hl <= bytes.count else { throw .tcpHeaderLength }
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
    public var sequenceNumber: UInt32 {
        get { load32(base, 4) }
        nonmutating set { store32(base, 4, newValue) }
    }
    public var acknowledgmentNumber: UInt32 {
        get { load32(base, 8) }
        nonmutating set { store32(base, 8, newValue) }
    }
    public var headerLength: Int { Int(load8(base, 12) >> 4) * 4 }
    public var flags: UInt8 {
        get { load8(base, 13) }
        nonmutating set { store8(base, 13, newValue) }
    }
    public var window: UInt16 {
        get { load16(base, 14) }
        nonmutating set { store16(base, 14, newValue) }
    }
    public var checksum: UInt16 {
        get { load16(base, 16) }
        nonmutating set { store16(base, 16, newValue) }
    }
    public var urgentPointer: UInt16 {
        get { load16(base, 18) }
        nonmutating set { store16(base, 18, newValue) }
    }
    public var options: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[TCPSegment.minimumHeaderLength..<headerLength])
    }
    public var payload: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[headerLength...])
    }
}
