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
    /// Dual stack, measured between IPv6 pods over an IPv6 underlay: the kernel's VXLAN device as
    /// flannel's dual-stack backend sets up flannel-v6.1, and Twill.
    case kernelVXLANIPv6 = "kernel-vxlan-ipv6"
    case twillVXLANIPv6 = "twill-vxlan-ipv6"

    var isTwill: Bool { self != .veth && self != .kernelVXLAN && self != .kernelVXLANIPv6 }
    /// Pods talk over IPv6, across an IPv6 underlay.
    var isIPv6: Bool { self == .kernelVXLANIPv6 || self == .twillVXLANIPv6 }

    /// twilld flags for this datapath.
    var twilldArguments: (format: String, engine: String, batch: Int, offloads: String)? {
        switch self {
        case .veth, .kernelVXLAN, .kernelVXLANIPv6: nil
        case .twillVXLANUring: ("vxlan", "uring", 64, "auto")
        case .twillVXLANSyscalls: ("vxlan", "syscalls", 64, "auto")
        case .twillUDPUring: ("udp", "uring", 64, "auto")
        case .twillUDPSyscalls: ("udp", "syscalls", 64, "auto")
        case .twillVXLANNoOffload: ("vxlan", "uring", 64, "none")
        case .naive: ("udp", "syscalls", 1, "none")
        case .twillVXLANIPv6: ("vxlan", "uring", 64, "auto")
        }
    }
}
