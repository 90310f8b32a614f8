import TwillIO
import TwillWire

/// The host side of the overlay: the TUN device with the lease's network address as a /32, the
/// overlay MTU, and a route for the whole Network through it (the local subnet stays on the bridge,
/// whose more specific route wins); in a dual-stack overlay also the IPv6 lease's network address as
/// a /128 and a route for the IPv6 Network, as flannel sets up its IPv6 device. Closing it removes
/// the device and its routes.
public final class OverlayDevice: Sendable {
    public let tun: TunDevice
    public let network: IPv4Subnet
    public let address: IPv4Address

    /// - Parameters:
    ///   - queues: TUN queues (IFF_MULTI_QUEUE when more than one).
    ///   - vnetHeader: open the TUN with IFF_VNET_HDR (needed by every TUN offload).
    ///   - ipv6: the IPv6 lease and the IPv6 Network, in a dual-stack overlay.
    public init(name: String, lease: IPv4Subnet, network: IPv4Subnet, mtu: Int, queues: Int = 1,
                vnetHeader: Bool = false, ipv6: (lease: IPv6Subnet, network: IPv6Subnet)? = nil) throws {
        let tun = try TunDevice(name: name, queueCount: queues, vnetHeader: vnetHeader)
        do {
            let nl = try Netlink()
            try nl.setLink(tun.name, up: true, mtu: mtu)
            try nl.addAddress(lease.address, prefixLength: 32, to: tun.name)
            try nl.addRoute(network, device: tun.name)
            if let ipv6 {
                try nl.addAddress(.v6(ipv6.lease.address), prefixLength: 128, to: tun.name)
                try nl.addRoute(ipv6.network, device: tun.name)
            }
        } catch {
            tun.close()
            throw error
        }
        self.tun = tun
        self.network = network
        self.address = lease.address
    }

    public var name: String { tun.name }

    /// Removes the device (and with it the address and the route).
    public func close() { tun.close() }
}
