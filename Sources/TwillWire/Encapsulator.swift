/// Writes a format's headers into the headroom in front of an inner IP packet. The inner packet is
/// never moved or copied.
public struct Encapsulator: Sendable {
    public let format: EncapsulationFormat
    public let vni: UInt32
    public let localMAC: MACAddress
    /// Outer UDP source ports are spread over this range by flow hash.
    public let sourcePorts: ClosedRange<UInt16>

    public init(format: EncapsulationFormat, vni: UInt32 = 1, localMAC: MACAddress = MACAddress(0),
                sourcePorts: ClosedRange<UInt16> = 49152...65535) {
        self.format = format
        self.vni = vni
        self.localMAC = localMAC
        self.sourcePorts = sourcePorts
    }

    /// Encapsulates the IP packet at `innerOffset..<innerOffset+innerLength` of `buffer` for a peer
    /// whose VTEP MAC is `peerMAC`. Returns the offset of the resulting UDP payload; it ends where the
    /// inner packet ends.
    @inline(__always)
    public func encapsulate(_ buffer: UnsafeMutableRawBufferPointer, innerOffset: Int, innerLength: Int,
                            innerVersion: UInt8, peerMAC: MACAddress) throws(WireError) -> Int {
        // Compared by subtraction so that no pair of arguments can overflow and trap.
        guard innerOffset >= 0, innerLength >= 0, innerLength <= buffer.count - innerOffset,
              let p = buffer.baseAddress else { throw .bufferTooSmall }
        switch format {
        case .udp:
            return innerOffset
        case .vxlan:
            let start = innerOffset - format.headerLength
            guard start >= 0 else { throw .headroomTooSmall }
            VXLANHeader.emit(vni: vni, into: p + start)
            let eth = start + VXLANHeader.length
            peerMAC.store(to: p, at: eth)
            localMAC.store(to: p, at: eth + 6)
            store16(p, eth + 12, innerVersion == 6 ? EtherType.ipv6 : EtherType.ipv4)
            return start
        }
    }

    /// The outer UDP source port for a flow.
    @inline(__always)
    public func sourcePort(flowHash: UInt32) -> UInt16 {
        let span = UInt32(sourcePorts.upperBound - sourcePorts.lowerBound) + 1
        return sourcePorts.lowerBound &+ UInt16(truncatingIfNeeded: flowHash % span)
    }
}
