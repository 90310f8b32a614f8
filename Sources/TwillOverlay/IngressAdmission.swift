import TwillIO
import TwillWire

/// The checks every received datagram passes, shared by both ingress loops: a valid encapsulation,
/// an inner packet from inside the sending peer's subnet (IPv4 or IPv6), addressed into this host's
/// subnet of the same family.
struct IngressAdmission {
    let decapsulator: Decapsulator
    let localSubnet: IPv4Subnet
    /// This host's IPv6 subnet; nil drops IPv6 inner packets as `ipv6_not_routed`.
    let localSubnetV6: IPv6Subnet?

    /// The inner packet's offset in `datagram` and its length, or nil when refused (counted).
    @inline(__always)
    func admit(_ datagram: UnsafeMutableRawBufferPointer, peer: Peer, state: inout LoopState) -> (offset: Int, length: Int)? {
        let inner: DecapsulatedPacket
        do { inner = try decapsulator.decapsulate(datagram) } catch {
            state.drops.count(.malformed(error))
            return nil
        }
        switch (inner.info.source, inner.info.destination) {
        case (.v4(let source), .v4(let destination)):
            guard peer.subnet.contains(source) else {
                state.drops.count(.spoofedInnerSource)
                return nil
            }
            guard localSubnet.contains(destination) else {
                state.drops.count(.notForThisHost)
                return nil
            }
        case (.v6(let source), .v6(let destination)):
            guard let localSubnetV6 else {
                state.drops.count(.ipv6NotRouted)
                return nil
            }
            guard let peerSubnet = peer.subnetV6, peerSubnet.contains(source) else {
                state.drops.count(.spoofedInnerSource)
                return nil
            }
            guard localSubnetV6.contains(destination) else {
                state.drops.count(.notForThisHost)
                return nil
            }
        default:
            // IPPacketInfo gives both addresses of one family; anything else is not ours to pass.
            state.drops.count(.notForThisHost)
            return nil
        }
        return (inner.offset, inner.length)
    }
}
