/// EtherType values Twill deals with.
public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let ipv6: UInt16 = 0x86DD
    public static let arp: UInt16 = 0x0806
}

/// A view of an Ethernet II header and what follows it.
public struct EthernetFrame {
    public static let headerLength = 14
    public let bytes: UnsafeMutableRawBufferPointer

    /// Checks only that the 14-byte header is present.
    @inline(__always)
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= EthernetFrame.headerLength, bytes.baseAddress != nil else { throw .truncated }
        self.bytes = bytes
    }

    @inline(__always) var base: UnsafeMutableRawPointer { bytes.baseAddress.unsafelyUnwrapped }

    public var destination: MACAddress {
        get { MACAddress.load(from: base, at: 0) }
        nonmutating set { newValue.store(to: base, at: 0) }
    }
    public var source: MACAddress {
        get { MACAddress.load(from: base, at: 6) }
        nonmutating set { newValue.store(to: base, at: 6) }
    }
    public var etherType: UInt16 {
        get { load16(base, 12) }
        nonmutating set { store16(base, 12, newValue) }
    }
    public var payload: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[EthernetFrame.headerLength...])
    }
}

/// The fields of an Ethernet header, to parse from and emit into a frame.
public struct EthernetRepr: Equatable, Sendable {
    public var destination: MACAddress
    public var source: MACAddress
    public var etherType: UInt16

    public init(destination: MACAddress, source: MACAddress, etherType: UInt16) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
    }

    public init(parsing frame: EthernetFrame) {
        self.init(destination: frame.destination, source: frame.source, etherType: frame.etherType)
    }

    public func emit(into frame: EthernetFrame) {
        frame.destination = destination
        frame.source = source
        frame.etherType = etherType
    }
}
