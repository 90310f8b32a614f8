import CLiburing
import Glibc

/// The offloads a datapath can use, each switchable on its own (kernels have had bugs in each).
public struct Offloads: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// TUN reads of TCP superpackets (IFF_VNET_HDR + TUNSETOFFLOAD TSO4/TSO6), segmented in userspace.
    public static let tunTSO = Offloads(rawValue: 1)
    /// The same for UDP superpackets (TUN_F_USO4/USO6, Linux 6.2+).
    public static let tunUSO = Offloads(rawValue: 2)
    /// UDP_SEGMENT: one send carries many equal-size datagrams.
    public static let udpGSO = Offloads(rawValue: 4)
    /// UDP_GRO: one receive returns many datagrams of one sender.
    public static let udpGRO = Offloads(rawValue: 8)
    /// Userspace TCP GRO: received segments of a flow are written to the TUN as one GSO packet.
    public static let tcpGRO = Offloads(rawValue: 16)

    public static let all: Offloads = [.tunTSO, .tunUSO, .udpGSO, .udpGRO, .tcpGRO]

    /// The names used by `--offloads`, the log and the metrics.
    public static let names: [(name: String, offload: Offloads)] = [
        ("tun-tso", .tunTSO), ("tun-uso", .tunUSO), ("udp-gso", .udpGSO), ("udp-gro", .udpGRO), ("tcp-gro", .tcpGRO),
    ]

    /// The TUN must carry virtio headers for any of these.
    public var needsVnetHeader: Bool { !intersection([.tunTSO, .tunUSO, .tcpGRO]).isEmpty }
    /// Slots must hold a 64 KB superpacket for any of these.
    public var needsLargeSlots: Bool { !intersection([.tunTSO, .tunUSO, .udpGRO]).isEmpty }

    /// `auto`/`all`, `none`, or a comma list of names; nil with the unknown name otherwise.
    public static func parse(_ text: String) -> Result<Offloads, OffloadParseError> {
        switch text {
        case "auto", "all": return .success(.all)
        case "none", "": return .success([])
        default:
            var set: Offloads = []
            for part in text.split(separator: ",") {
                let name = part.trimmingCharacters(in: " ")
                guard let match = names.first(where: { $0.name == name }) else { return .failure(OffloadParseError(name: name)) }
                set.insert(match.offload)
            }
            return .success(set)
        }
    }

    public var description: String {
        let on = Offloads.names.filter { contains($0.offload) }.map(\.name)
        return on.isEmpty ? "none" : on.joined(separator: ",")
    }
}

public struct OffloadParseError: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "unknown offload '\(name)': use auto, none, or a comma list of \(Offloads.names.map(\.name).joined(separator: ", "))"
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

/// Finds out which of the wanted offloads this kernel grants, on the real TUN and socket, and
/// switches them on. Each refusal is reported with its reason; the datapath uses what remains.
public enum OffloadProbe {
    public struct Outcome: Sendable {
        public var enabled: Offloads
        /// Why each wanted offload that is off was refused.
        public var refused: [(name: String, reason: String)]
    }

    /// - Parameters:
    ///   - tun: must have been opened with a virtio header when `wanted.needsVnetHeader`.
    ///   - sockets: every UDP socket of the datapath.
    public static func enable(_ wanted: Offloads, tun: TunDevice, sockets: [Int32]) -> Outcome {
        var enabled: Offloads = []
        var refused: [(String, String)] = []
        if wanted.needsVnetHeader && !tun.vnetHeader {
            refused.append(("tun", "the TUN was opened without IFF_VNET_HDR"))
        }
        if tun.vnetHeader {
            var flags = TWILL_TUN_F_CSUM
            if wanted.contains(.tunTSO) { flags |= TWILL_TUN_F_TSO4 | TWILL_TUN_F_TSO6 }
            if wanted.contains(.tunUSO) { flags |= TWILL_TUN_F_USO4 | TWILL_TUN_F_USO6 }
            do {
                try tun.setOffload(flags)
                enabled.formUnion(wanted.intersection([.tunTSO, .tunUSO]))
            } catch {
                if wanted.contains(.tunUSO) {
                    refused.append(("tun-uso", "TUNSETOFFLOAD USO4|USO6: \(error)"))
                    flags &= ~(TWILL_TUN_F_USO4 | TWILL_TUN_F_USO6)
                }
                do {
                    try tun.setOffload(flags)
                    enabled.formUnion(wanted.intersection(.tunTSO))
                } catch {
                    if wanted.contains(.tunTSO) { refused.append(("tun-tso", "TUNSETOFFLOAD TSO4|TSO6: \(error)")) }
                }
            }
            if wanted.contains(.tcpGRO) { enabled.insert(.tcpGRO) }
        }
        let sockets = enableSockets(wanted, sockets: sockets)
        return Outcome(enabled: enabled.union(sockets.enabled), refused: refused + sockets.refused)
    }

    /// The socket half of `enable`: UDP_SEGMENT and UDP_GRO on every socket given.
    public static func enableSockets(_ wanted: Offloads, sockets: [Int32]) -> Outcome {
        var enabled: Offloads = []
        var refused: [(String, String)] = []
        if wanted.contains(.udpGSO) {
            // Setting a socket default of 0 succeeds exactly where UDP_SEGMENT is known.
            if let e = sockets.lazy.map({ twill_setsockopt_int($0, Int32(SOL_UDP), TWILL_UDP_SEGMENT, 0) }).first(where: { $0 != 0 }) {
                refused.append(("udp-gso", "UDP_SEGMENT: \(IOError("setsockopt", errno: -e))"))
            } else {
                enabled.insert(.udpGSO)
            }
        }
        if wanted.contains(.udpGRO) {
            if let e = sockets.lazy.map({ twill_setsockopt_int($0, Int32(SOL_UDP), TWILL_UDP_GRO, 1) }).first(where: { $0 != 0 }) {
                refused.append(("udp-gro", "UDP_GRO: \(IOError("setsockopt", errno: -e))"))
            } else {
                enabled.insert(.udpGRO)
            }
        }
        return Outcome(enabled: enabled, refused: refused)
    }
}
