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

    public init(format: EncapsulationFormat, vni: UInt32 = 1, localMAC: MACAddress = MACAddress(0),
                localSubnet: IPv4Subnet, icmpSource: IPv4Address, engine: IOEngineChoice, batchSize: Int = 64,
                poolSlots: Int = 1024, slotSize: Int = 2048, pollMilliseconds: Int32 = 100,
                disableMultishotRead: Bool = false) {
        self.format = format
        self.vni = vni
        self.localMAC = localMAC
        self.localSubnet = localSubnet
        self.icmpSource = icmpSource
        self.engine = engine
        self.batchSize = batchSize
        self.poolSlots = poolSlots
        self.slotSize = slotSize
        self.pollMilliseconds = pollMilliseconds
        self.disableMultishotRead = disableMultishotRead
    }

    /// A slot that holds the largest datagram the underlay can deliver (with io_uring's receive
    /// header and the sender's address in front of it) and the largest TUN packet with headroom.
    public static func slotSize(underlayMTU: Int) -> Int {
        (max(1984, underlayMTU) + EncapsulationHeadroom.bytes + 63) & ~63
    }

    /// Enough slots for bursts, fewer when jumbo frames make each slot large (about 2 MiB a pool).
    public static func poolSlots(slotSize: Int) -> Int {
        max(256, min(1024, (2 << 20) / slotSize))
    }
}
