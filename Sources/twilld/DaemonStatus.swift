import Foundation
import Synchronization
import TwillControl
import TwillOverlay
import TwillWire

/// What the daemon is doing, as /readyz and /metrics report it. The control plane updates it; the
/// HTTP server reads it at request time. Nothing here is on the packet path.
final class DaemonStatus: Sendable {
    /// The running datapath and what describes it in the metrics.
    struct Datapath: Sendable {
        let forwarder: Forwarder
        let directory: PeerDirectory
        /// The subnet the device and the forwarder were set up for.
        let subnet: IPv4Subnet
        let format: EncapsulationFormat
        /// `IOEngineKind.rawValue`: uring or syscalls.
        let engine: String
        /// Offloads by name with whether each is in use (none are exposed by the forwarder yet).
        let offloads: [(name: String, enabled: Bool)]
    }

    private struct State {
        var lease: Lease?
        var leaseLost = false
        var datapath: Datapath?
        var stopping = false
    }

    private let state = Mutex(State())

    func leaseHeld(_ lease: Lease) {
        state.withLock {
            $0.lease = lease
            $0.leaseLost = false
        }
    }

    func leaseLost() { state.withLock { $0.leaseLost = true } }

    func datapathStarted(_ datapath: Datapath) { state.withLock { $0.datapath = datapath } }

    func stopping() { state.withLock { $0.stopping = true } }

    var lease: Lease? { state.withLock { $0.lease } }

    var datapath: Datapath? { state.withLock { $0.datapath } }

    /// Ready means forwarding with a valid lease: held (not lost, not past its expiry) and both
    /// datapath threads running. Otherwise the reason, in one line.
    func readiness(at now: Date = Date()) -> (ready: Bool, reason: String) {
        let s = state.withLock { $0 }
        if s.stopping { return (false, "shutting down") }
        guard let lease = s.lease else { return (false, "no lease yet (waiting for the lease store)") }
        if s.leaseLost { return (false, "lease \(lease.subnet) was lost; acquiring again") }
        if lease.isExpired(at: now) {
            return (false, "lease \(lease.subnet) expired at \(Self.timestamp(lease.expiration)) (renewal failing)")
        }
        guard let datapath = s.datapath else { return (false, "lease \(lease.subnet) held; datapath not started yet") }
        guard datapath.forwarder.isRunning else { return (false, "datapath not running") }
        guard lease.subnet == datapath.subnet else {
            return (false, "the lease is now \(lease.subnet) but the datapath serves \(datapath.subnet): restart twilld")
        }
        // A dual-stack lease kept while the config has no IPv6 is fine: only a served IPv6 subnet must match.
        if let served = datapath.forwarder.config.ipv6?.localSubnet, lease.subnetV6 != served {
            return (false, "the IPv6 lease is now \(lease.subnetV6.map(\.description) ?? "none") but the datapath serves \(served): restart twilld")
        }
        return (true, "ok: lease \(lease.subnet) until \(Self.timestamp(lease.expiration)), datapath running")
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}
