/// A view of the 8-byte VXLAN header (RFC 7348): flags, 24 reserved bits, 24-bit VNI, 8 reserved bits.
public struct VXLANHeader {
    public static let length = 8
    /// The I flag: the VNI is valid.
    public static let validVNIFlag: UInt8 = 0x08
    public let bytes: UnsafeMutableRawBufferPointer

    @inline(__always)
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= VXLANHeader.length, bytes.baseAddress != nil else { throw .truncated }
        self.bytes = bytes
    }

    @inline(__always) var base: UnsafeMutableRawPointer { bytes.baseAddress.unsafelyUnwrapped }

    public var flags: UInt8 { load8(base, 0) }
    public var hasValidVNI: Bool { flags & VXLANHeader.validVNIFlag != 0 }
    public var vni: UInt32 { load32(base, 4) >> 8 }
    public var payload: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[VXLANHeader.length...])
    }

    /// Writes flags = I, reserved bits zero, and the VNI.
    @inline(__always)
    public static func emit(vni: UInt32, into p: UnsafeMutableRawPointer) {
        store32(p, 0, UInt32(validVNIFlag) << 24)
        store32(p, 4, (vni & 0xff_ffff) << 8)
    }
}
