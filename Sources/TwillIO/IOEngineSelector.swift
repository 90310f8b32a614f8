import Glibc

/// The engine picked for this process, and why.
public struct IOEngineChoice: Sendable, CustomStringConvertible {
    public let kind: IOEngineKind
    /// One line for the log: why this engine.
    public let reason: String
    /// Probed io_uring features (nil when io_uring is unusable).
    public let capabilities: RingCapabilities?

    public var description: String { "\(kind) (\(reason))" }

    /// Creates the engine on the calling thread and hands it to `user`, specialised per engine.
    public func open<U: PacketIOUser & ~Copyable>(_ config: PacketIOConfiguration, pool: PacketPool,
                                                   user: inout U) throws(IOError) {
        switch kind {
        case .uring:
            var io = try UringPacketIO(config, pool: pool, capabilities: capabilities)
            user.run(&io)
        case .syscalls:
            var io = try SyscallPacketIO(config, pool: pool)
            user.run(&io)
        }
    }
}

/// Something that runs over a `PacketIO`; `IOEngineChoice.open` calls it with the concrete engine so
/// the loop is compiled for each engine without dynamic dispatch per packet.
public protocol PacketIOUser: ~Copyable {
    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO)
}

/// Chooses the I/O engine: io_uring unless `io_uring_setup` fails (EPERM from a seccomp profile or
/// `kernel.io_uring_disabled`, ENOSYS) or lacks what the engine needs, then the syscall engine.
public enum IOEngineSelector {
    public static func choose(_ preference: IOEnginePreference) throws(IOError) -> IOEngineChoice {
        switch preference {
        case .syscalls:
            return IOEngineChoice(kind: .syscalls, reason: "forced by configuration", capabilities: nil)
        case .uring:
            let caps = try Ring.probeCapabilities()
            return IOEngineChoice(kind: .uring, reason: "forced by configuration; " + describe(caps), capabilities: caps)
        case .auto:
            let caps: RingCapabilities
            do {
                caps = try Ring.probeCapabilities()
            } catch {
                let why = error.errno == EPERM
                    ? "io_uring_setup refused (EPERM): a seccomp profile or kernel.io_uring_disabled"
                    : error.errno == ENOSYS ? "io_uring_setup not implemented by this kernel (ENOSYS)"
                    : "io_uring_setup failed: \(error)"
                return IOEngineChoice(kind: .syscalls, reason: why, capabilities: nil)
            }
            guard caps.basicOpcodes, caps.bufferRings else {
                return IOEngineChoice(kind: .syscalls, reason: "io_uring lacks needed features: " + describe(caps),
                                      capabilities: caps)
            }
            return IOEngineChoice(kind: .uring, reason: "io_uring available; " + describe(caps), capabilities: caps)
        }
    }

    static func describe(_ caps: RingCapabilities) -> String {
        "multishot TUN reads \(caps.readMultishot ? "yes" : "no (several reads in flight)"), "
            + "buffer rings \(caps.bufferRings ? "yes" : "no")"
    }
}
