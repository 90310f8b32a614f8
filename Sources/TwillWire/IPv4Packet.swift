/// A view of an IPv4 packet whose header lengths have been checked against the bytes.
///
/// After `init`, the header (with options) and `totalLength` bytes lie inside `bytes`; bytes past the
/// total length (link padding) are outside `packet`.
public struct IPv4Packet {
    public static let minimumHeaderLength = 20
    public let bytes: UnsafeMutableRawBufferPointer

    @inline(__always)
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv4Packet.minimumHeaderLength, let p = bytes.baseAddress else { throw .truncated }
        let vihl = load8(p, 0)
        guard vihl >> 4 == 4 else { throw .notIP }
        let hl = Int(vihl & 0x0f) * 4
        guard hl >= IPv4Packet.minimumHeaderLength, hl <= bytes.count else { throw .ipv4HeaderLength }
        let total = Int(load16(p, 2))
        guard total >= hl, total <= bytes.count else { throw .ipv4TotalLength }
        self.bytes = bytes
    }

    /// For emitting: only checks room for a minimal header. Fields are then written through the setters.
    @inline(__always)
    public init(uncheckedForEmit bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv4Packet.minimumHeaderLength, bytes.baseAddress != nil else { throw .bufferTooSmall }
        self.bytes = bytes
    }

    @inline(__always) var base: UnsafeMutableRawPointer { bytes.baseAddress.unsafelyUnwrapped }

    public var version: UInt8 { load8(base, 0) >> 4 }
    public var headerLength: Int { Int(load8(base, 0) & 0x0f) * 4 }
    public var dscpECN: UInt8 {
        get { load8(base, 1) }
        nonmutating set { store8(base, 1, newValue) }
    }
    public var totalLength: Int {
        get { Int(load16(base, 2)) }
        nonmutating set { store16(base, 2, UInt16(truncatingIfNeeded: newValue)) }
    }
    public var identification: UInt16 {
        get { load16(base, 4) }
        nonmutating set { store16(base, 4, newValue) }
    }
    /// Flags (3 bits) and fragment offset (13 bits) as on the wire.
    public var flagsAndFragmentOffset: UInt16 {
        get { load16(base, 6) }
        nonmutating set { store16(base, 6, newValue) }
    }
    public var dontFragment: Bool { flagsAndFragmentOffset & 0x4000 != 0 }
    /// True for every fragment but a whole packet (MF set or a non-zero offset).
    public var isFragment: Bool { flagsAndFragmentOffset & 0x3fff != 0 }
    public var ttl: UInt8 {
        get { load8(base, 8) }
        nonmutating set { store8(base, 8, newValue) }
    }
    public var proto: UInt8 {
        get { load8(base, 9) }
        nonmutating set { store8(base, 9, newValue) }
    }
    public var headerChecksum: UInt16 {
        get { load16(base, 10) }
        nonmutating set { store16(base, 10, newValue) }
    }
    public var source: IPv4Address {
        get { IPv4Address(load32(base, 12)) }
        nonmutating set { store32(base, 12, newValue.value) }
    }
    public var destination: IPv4Address {
        get { IPv4Address(load32(base, 16)) }
        nonmutating set { store32(base, 16, newValue.value) }
    }

    /// The packet up to its total length (link padding cut off).
    public var packet: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[0..<totalLength])
    }
    public var header: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[0..<headerLength])
    }
    public var payload: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[headerLength..<totalLength])
    }

    public var headerChecksumIsValid: Bool {
        InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(header))) == 0
    }

    /// Recomputes the header checksum from scratch.
    public func fillHeaderChecksum() {
        headerChecksum = 0
        headerChecksum = InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(header)))
    }

    /// Decrements TTL by one with an RFC 1624 checksum update. Returns false, changing nothing, when
    /// the packet may not be forwarded (TTL 0 or 1).
    @inline(__always)
    public func decrementTTL() -> Bool {
        let old = ttl
        guard old > 1 else { return false }
        let oldWord = load16(base, 8)
        store8(base, 8, old &- 1)
        headerChecksum = InternetChecksum.update(headerChecksum, oldWord: oldWord, newWord: load16(base, 8))
        return true
    }

    /// The sum of the IPv4 pseudo-header for an upper-layer length.
    public func pseudoHeaderSum(upperLayerLength: Int) -> UInt32 {
        InternetChecksum.pseudoHeaderSum(source: source, destination: destination, proto: proto,
                                         length: upperLayerLength)
    }
}

/// The fields of an IPv4 header without options, to parse from and emit into a packet.
public struct IPv4Repr: Equatable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var proto: UInt8
    public var payloadLength: Int
    public var ttl: UInt8
    public var dscpECN: UInt8
    public var identification: UInt16
    public var dontFragment: Bool

    public init(source: IPv4Address, destination: IPv4Address, proto: UInt8, payloadLength: Int,
                ttl: UInt8 = 64, dscpECN: UInt8 = 0, identification: UInt16 = 0, dontFragment: Bool = true) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.payloadLength = payloadLength
        self.ttl = ttl
        self.dscpECN = dscpECN
        self.identification = identification
        self.dontFragment = dontFragment
    }

    /// Reads the fields (options, if any, are skipped, not kept).
    public init(parsing p: IPv4Packet) {
        self.init(source: p.source, destination: p.destination, proto: p.proto,
                  payloadLength: p.totalLength - p.headerLength, ttl: p.ttl, dscpECN: p.dscpECN,
                  identification: p.identification, dontFragment: p.dontFragment)
    }

    public static let headerLength = 20

    /// Writes a 20-byte header with a valid checksum at the start of `bytes`.
    public func emit(into bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= IPv4Repr.headerLength, let p = bytes.baseAddress else { throw .bufferTooSmall }
        // A negative length would trap in the UInt16 conversion below.
        guard payloadLength >= 0, payloadLength <= 65535 - IPv4Repr.headerLength else { throw .ipv4TotalLength }
        store8(p, 0, 0x45)
        store8(p, 1, dscpECN)
        store16(p, 2, UInt16(payloadLength + IPv4Repr.headerLength))
        store16(p, 4, identification)
        store16(p, 6, dontFragment ? 0x4000 : 0)
        store8(p, 8, ttl)
        store8(p, 9, proto)
        store16(p, 10, 0)
        store32(p, 12, source.value)
        store32(p, 16, destination.value)
        let sum = InternetChecksum.sum(UnsafeRawBufferPointer(start: p, count: IPv4Repr.headerLength))
        store16(p, 10, InternetChecksum.finish(sum))
    }
}
