/// The datapaths the harness compares.
enum Datapath: String, CaseIterable, Codable {
    /// Raw veth between the hosts, no overlay: the ceiling.
    case veth = "raw-veth"
    /// The kernel's VXLAN device set up as flannel's vxlan backend does it.
    case kernelVXLAN = "kernel-vxlan"
    case twillVXLANUring = "twill-vxlan-uring"
    case twillVXLANSyscalls = "twill-vxlan-syscalls"
    case twillUDPUring = "twill-udp-uring"
    case twillUDPSyscalls = "twill-udp-syscalls"
    /// io_uring without offloads: what batching alone gives.
    case twillVXLANNoOffload = "twill-vxlan-nooffload"
    /// One packet per syscall, no batching: stands in for flannel's udp backend.
    case naive = "twill-naive-udp"

    var isTwill: Bool { self != .veth && self != .kernelVXLAN }

    /// twilld flags for this datapath.
    var twilldArguments: (format: String, engine: String, batch: Int, offloads: String)? {
        switch self {
        case .veth, .kernelVXLAN: nil
        case .twillVXLANUring: ("vxlan", "uring", 64, "auto")
        case .twillVXLANSyscalls: ("vxlan", "syscalls", 64, "auto")
        case .twillUDPUring: ("udp", "uring", 64, "auto")
        case .twillUDPSyscalls: ("udp", "syscalls", 64, "auto")
        case .twillVXLANNoOffload: ("vxlan", "uring", 64, "none")
        case .naive: ("udp", "syscalls", 1, "none")
        }
    }
}
