import CLiburing
import Glibc

/// What this kernel's io_uring offers, found by probing at run time.
public struct RingCapabilities: Sendable, Equatable {
    /// IORING_OP_READ_MULTISHOT (opcode 49, Linux 6.7).
    public var readMultishot: Bool
    /// Provided buffer rings (Linux 5.19), needed for multishot receives.
    public var bufferRings: Bool
    /// SENDMSG, RECVMSG, READ, WRITE and ASYNC_CANCEL.
    public var basicOpcodes: Bool
}

/// One io_uring instance, created on (and used only by) the thread that owns it: with
/// SINGLE_ISSUER|DEFER_TASKRUN the kernel refuses submissions from any other thread.
public final class Ring {
    let ring: UnsafeMutablePointer<io_uring>
    /// The setup flags the kernel accepted.
    public let setupFlags: UInt32

    /// - Parameters:
    ///   - entries: submission queue size.
    ///   - completionEntries: completion queue size (multishot receives need room to burst).
    public init(entries: UInt32 = 256, completionEntries: UInt32 = 4096) throws(IOError) {
        let r = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        r.initialize(to: io_uring())
        let preferred = UInt32(IORING_SETUP_SINGLE_ISSUER) | UInt32(IORING_SETUP_DEFER_TASKRUN)
            | UInt32(IORING_SETUP_CQSIZE) | UInt32(IORING_SETUP_SUBMIT_ALL)
        var lastError: Int32 = 0
        var accepted: UInt32 = 0
        var ok = false
        // Older kernels reject the newer flags with EINVAL: retry with fewer.
        for flags in [preferred, UInt32(IORING_SETUP_CQSIZE), 0] {
            var params = io_uring_params()
            params.flags = flags
            params.cq_entries = completionEntries
            let rc = io_uring_queue_init_params(entries, r, &params)
            if rc == 0 {
                accepted = flags
                ok = true
                break
            }
            lastError = -rc
            if lastError != EINVAL { break }
        }
        guard ok else {
            r.deallocate()
            throw IOError("io_uring_setup", errno: lastError)
        }
        ring = r
        setupFlags = accepted
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
    }

    /// Probes the running kernel with a small, plain ring. Throws the setup error (EPERM under a seccomp
    /// profile or `kernel.io_uring_disabled`, ENOSYS without io_uring).
    public static func probeCapabilities() throws(IOError) -> RingCapabilities {
        var r = io_uring()
        let rc = io_uring_queue_init(4, &r, 0)
        guard rc == 0 else { throw IOError("io_uring_setup", errno: -rc) }
        defer { io_uring_queue_exit(&r) }
        var caps = RingCapabilities(readMultishot: false, bufferRings: false, basicOpcodes: false)
        if let probe = io_uring_get_probe_ring(&r) {
            defer { io_uring_free_probe(probe) }
            let needed = [IORING_OP_SENDMSG, IORING_OP_RECVMSG, IORING_OP_READ, IORING_OP_WRITE, IORING_OP_ASYNC_CANCEL]
            caps.basicOpcodes = needed.allSatisfy { io_uring_opcode_supported(probe, Int32($0.rawValue)) != 0 }
            caps.readMultishot = io_uring_opcode_supported(probe, TWILL_IORING_OP_READ_MULTISHOT) != 0
        }
        // Buffer rings are not an opcode: try registering a tiny one.
        let page = 4096
        if let mem = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mem != MAP_FAILED {
            var reg = io_uring_buf_reg()
            reg.ring_addr = UInt64(UInt(bitPattern: mem))
            reg.ring_entries = 1
            reg.bgid = 7
            if io_uring_register_buf_ring(&r, &reg, 0) == 0 {
                caps.bufferRings = true
                _ = io_uring_unregister_buf_ring(&r, 7)
            }
            munmap(mem, page)
        }
        return caps
    }
}
