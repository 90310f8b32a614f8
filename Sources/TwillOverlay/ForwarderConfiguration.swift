import TwillIO
import TwillWire

/// How a host's forwarding engine encapsulates and where it sits in the overlay.
public struct ForwarderConfiguration: Sendable {
    public var format: EncapsulationFormat
    public var vni: UInt32
    /// This host's VTEP MAC (VXLAN inner source; the inner destination it accepts).
    public var localMAC: MACAddress
    /// This host's leased subnet: the only inner destinations accepted from peers.
    public var localSubnet: IPv4Subnet
    /// The source of ICMP errors the datapath writes back into the TUN. It must be local to no host
    /// (the kernel drops packets arriving from one of its own addresses as martians): the overlay
    /// Network's own address serves, since the first subnet is never leased (flannel's SubnetMin).
    public var icmpSource: IPv4Address
    /// The dual-stack overlay's IPv6 side (nil: IPv6 inner packets are dropped as `ipv6_not_routed`).
    public var ipv6: IPv6Overlay?
    public var engine: IOEngineChoice
    public var batchSize: Int
    /// Slots per datapath thread; exhaustion pauses reading (back-pressure).
    public var poolSlots: Int
    /// Bytes per slot: the largest packet plus headroom (see `slotSize(underlayMTU:)`).
    public var slotSize: Int
    /// How long a loop waits for packets before checking for shutdown.
    public var pollMilliseconds: Int32
    /// io_uring only: single TUN reads in flight instead of READ_MULTISHOT.
    public var disableMultishotRead: Bool
    /// The offloads granted at start-up (see `OffloadProbe`); empty runs the plain loops.
    public var offloads: Offloads
    /// Most datagrams in one UDP_SEGMENT send (the kernel allows 64 before Linux 6.9, 128 after).
    public var gsoMaxSegments: Int

    public init(format: EncapsulationFormat, vni: UInt32 = 1, localMAC: MACAddress = MACAddress(0),
                localSubnet: IPv4Subnet, icmpSource: IPv4Address, ipv6: IPv6Overlay? = nil,
                engine: IOEngineChoice, batchSize: Int = 64,
                poolSlots: Int = 1024, slotSize: Int = 2048, pollMilliseconds: Int32 = 100,
                disableMultishotRead: Bool = false, offloads: Offloads = [], gsoMaxSegments: Int = 64) {
        self.format = format
        self.vni = vni
        self.localMAC = localMAC
        self.localSubnet = localSubnet
        self.icmpSource = icmpSource
        self.ipv6 = ipv6
        self.engine = engine
        self.batchSize = batchSize
        self.poolSlots = poolSlots
        self.slotSize = slotSize
        self.pollMilliseconds = pollMilliseconds
        self.disableMultishotRead = disableMultishotRead
        self.offloads = offloads
        self.gsoMaxSegments = gsoMaxSegments
    }

    /// The IPv6 half of a dual-stack overlay, as the datapath needs it.
    public struct IPv6Overlay: Sendable {
        /// The whole IPv6 overlay network: only destinations inside it are routed to peers.
        public var network: IPv6Subnet
        /// This host's IPv6 subnet: the only IPv6 inner destinations accepted from peers.
        public var localSubnet: IPv6Subnet
        /// Source of ICMPv6 errors: an address in the never-leased first subnet, local to no host.
        public var icmpSource: IPv6Address

        public init(network: IPv6Subnet, localSubnet: IPv6Subnet, icmpSource: IPv6Address? = nil) {
            self.network = network
            self.localSubnet = localSubnet
            self.icmpSource = icmpSource ?? IPv6Address(high: network.address.high, low: network.address.low | 1)
        }
    }

    /// A slot that holds the largest datagram the underlay can deliver (with io_uring's receive
    /// header and the sender's address in front of it) and the largest TUN packet with headroom.
    /// With TUN TSO/USO or UDP GRO a slot holds a 64 KB superpacket and the receive's headers.
    public static func slotSize(underlayMTU: Int, offloads: Offloads = []) -> Int {
        if offloads.needsLargeSlots { return 65536 + 256 }
        return (max(1984, underlayMTU) + EncapsulationHeadroom.bytes + 63) & ~63
    }

    /// Enough slots for bursts, fewer when jumbo frames make each slot large (about 2 MiB a pool);
    /// 48 superpacket slots (3 MiB) when offloads carry 64 KB at a time.
    public static func poolSlots(slotSize: Int) -> Int {
        slotSize > 32768 ? 48 : max(256, min(1024, (2 << 20) / slotSize))
    }

    /// The batch size a loop works with: superpacket slots are few, so batches are smaller.
    public var effectiveBatchSize: Int {
        slotSize > 32768 ? max(1, min(batchSize, poolSlots / 4)) : batchSize
    }
}
