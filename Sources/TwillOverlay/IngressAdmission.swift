import TwillIO
import TwillWire

/// The checks every received datagram passes, shared by both ingress loops: a valid encapsulation,
/// an IPv4 inner packet from inside the sending peer's subnet, addressed into this host's subnet.
struct IngressAdmission {
    let decapsulator: Decapsulator
    let localSubnet: IPv4Subnet

    /// The inner packet's offset in `datagram` and its length, or nil when refused (counted).
    @inline(__always)
    func admit(_ datagram: UnsafeMutableRawBufferPointer, peerSubnet: IPv4Subnet, state: inout LoopState) -> (offset: Int, length: Int)? {
        let inner: DecapsulatedPacket
        do { inner = try decapsulator.decapsulate(datagram) } catch {
            state.drops.count(.malformed(error))
            return nil
        }
        guard case .v4(let innerSource) = inner.info.source, case .v4(let innerDestination) = inner.info.destination else {
            state.drops.count(.ipv6NotRouted)
            return nil
        }
        guard peerSubnet.contains(innerSource) else {
            state.drops.count(.spoofedInnerSource)
            return nil
        }
        guard localSubnet.contains(innerDestination) else {
            state.drops.count(.notForThisHost)
            return nil
        }
        return (inner.offset, inner.length)
    }
}
