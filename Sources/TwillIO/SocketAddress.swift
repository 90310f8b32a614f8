import Glibc
import TwillWire

/// An IPv4 or IPv6 socket address held in a `sockaddr_in6`-sized value, so a batch can keep one per
/// packet without allocating.
public struct SocketAddress: Equatable, @unchecked Sendable, CustomStringConvertible {
    public var storage: sockaddr_in6
    public var length: socklen_t

    public init() {
        storage = sockaddr_in6()
        length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    }

    public init(_ address: IPAddress, port: UInt16) {
        self.init()
        set(address, port: port)
    }

    @inline(__always)
    public mutating func set(_ address: IPAddress, port: UInt16) {
        switch address {
        case .v4(let a):
            withUnsafeMutableBytes(of: &storage) { raw in
                let sin = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                sin.pointee = sockaddr_in()
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = port.bigEndian
                sin.pointee.sin_addr.s_addr = a.value.bigEndian
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let a):
            storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage.sin6_addr) { raw in
                raw.storeBytes(of: a.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: a.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }

    public var family: Int32 { Int32(storage.sin6_family) }

    /// The address, or nil for a family other than IPv4/IPv6.
    @inline(__always)
    public var ipAddress: IPAddress? {
        switch family {
        case AF_INET:
            return withUnsafeBytes(of: storage) { raw in
                .v4(IPv4Address(UInt32(bigEndian: raw.load(fromByteOffset: 4, as: UInt32.self))))
            }
        case AF_INET6:
            return withUnsafeBytes(of: storage.sin6_addr) { raw in
                let hi = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
                let lo = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                let a = IPv6Address(high: hi, low: lo)
                // A v4-mapped source on a dual-stack socket is the IPv4 peer.
                if hi == 0 && lo >> 32 == 0xffff { return .v4(IPv4Address(UInt32(truncatingIfNeeded: lo))) }
                return .v6(a)
            }
        default:
            return nil
        }
    }

    public var port: UInt16 { UInt16(bigEndian: storage.sin6_port) }

    public static func == (l: SocketAddress, r: SocketAddress) -> Bool {
        l.ipAddress == r.ipAddress && l.port == r.port
    }

    public var description: String {
        guard let a = ipAddress else { return "family \(family)" }
        if case .v6 = a { return "[\(a)]:\(port)" }
        return "\(a):\(port)"
    }
}
