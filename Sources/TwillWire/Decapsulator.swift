/// Where the inner packet lies in a received UDP payload, and its addresses.
public struct DecapsulatedPacket: Equatable, Sendable {
    /// Offset of the inner IP packet from the start of the UDP payload.
    public var offset: Int
    /// The inner packet's own length (trailing padding excluded).
    public var info: IPPacketInfo
    public var length: Int { info.length }
}

/// Checks a received UDP payload and finds the inner IP packet in it. Every refusal has its own
/// `WireError`; no input traps.
public struct Decapsulator: Sendable {
    public let format: EncapsulationFormat
    public let vni: UInt32
    public let localMAC: MACAddress

    public init(format: EncapsulationFormat, vni: UInt32 = 1, localMAC: MACAddress = MACAddress(0)) {
        self.format = format
        self.vni = vni
        self.localMAC = localMAC
    }

    @inline(__always)
    public func decapsulate(_ payload: UnsafeMutableRawBufferPointer) throws(WireError) -> DecapsulatedPacket {
        switch format {
        case .udp:
            guard payload.count > 0 else { throw .truncated }
            return DecapsulatedPacket(offset: 0, info: try IPPacketInfo(parsing: payload))
        case .vxlan:
            let vx = try VXLANHeader(payload)
            guard vx.hasValidVNI else { throw .vxlanFlagMissing }
            guard vx.vni == vni else { throw .wrongVNI }
            let eth = try EthernetFrame(vx.payload)
            let type = eth.etherType
            guard type == EtherType.ipv4 || type == EtherType.ipv6 else { throw .innerEtherTypeNotIP }
            guard eth.destination == localMAC else { throw .innerDestinationMACNotOurs }
            let inner = eth.payload
            guard inner.count > 0 else { throw .truncated }
            let info = try IPPacketInfo(parsing: inner)
            guard (info.version == 6) == (type == EtherType.ipv6) else { throw .etherTypeVersionMismatch }
            return DecapsulatedPacket(offset: format.headerLength, info: info)
        }
    }
}
