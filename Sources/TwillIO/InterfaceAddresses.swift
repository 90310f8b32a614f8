import Glibc
import TwillWire

/// The host's interfaces as the underlay sees them: to pick the public IP (flannel's `--iface`) and
/// the underlay MTU the overlay MTU is derived from.
public struct UnderlayInterface: Sendable, Equatable {
    public var name: String
    public var address: IPv4Address
    public var mtu: Int

    /// Every interface with an IPv4 address (loopback excluded unless asked for).
    public static func all(includeLoopback: Bool = false) -> [UnderlayInterface] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var result: [UnderlayInterface] = []
        var p = head
        while let ifa = p {
            defer { p = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr, Int32(sa.pointee.sa_family) == AF_INET else { continue }
            if !includeLoopback && ifa.pointee.ifa_flags & UInt32(IFF_LOOPBACK) != 0 { continue }
            let name = String(cString: ifa.pointee.ifa_name)
            let value = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            result.append(UnderlayInterface(name: name, address: IPv4Address(value), mtu: mtu(of: name) ?? 1500))
        }
        return result
    }

    /// The interface named `name`, or the one holding the address `name` when it is an IPv4 literal.
    public static func find(_ nameOrAddress: String) -> UnderlayInterface? {
        if let a = IPv4Address(nameOrAddress) {
            return all(includeLoopback: true).first { $0.address == a }
        }
        return all(includeLoopback: true).first { $0.name == nameOrAddress }
    }

    /// The interface of the IPv4 default route (flannel's choice without `--iface`), else the first
    /// non-loopback interface with an address.
    public static func defaultRoute() -> UnderlayInterface? {
        let interfaces = all()
        if let routes = readFile("/proc/net/route") {
            for line in routes.split(separator: "\n").dropFirst() {
                let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if f.count > 2 && f[1] == "00000000", let i = interfaces.first(where: { $0.name == f[0] }) { return i }
            }
        }
        return interfaces.first
    }

    /// The global IPv6 addresses of interface `name` (no link-local, loopback or multicast ones),
    /// for the IPv6 underlay when `--public-ipv6` is not given.
    public static func globalIPv6Addresses(of name: String) -> [IPv6Address] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var result: [IPv6Address] = []
        var p = head
        while let ifa = p {
            defer { p = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr, Int32(sa.pointee.sa_family) == AF_INET6,
                  String(cString: ifa.pointee.ifa_name) == name else { continue }
            let a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                withUnsafeBytes(of: sin6.pointee.sin6_addr) { raw in
                    IPv6Address(high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                                low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
            }
            let linkLocal = a.high >> 54 == 0x3fa // fe80::/10
            if linkLocal || a.isMulticast || a == IPv6Address(high: 0, low: 1) { continue }
            result.append(a)
        }
        return result
    }

    static func mtu(of name: String) -> Int? {
        readFile("/sys/class/net/\(name)/mtu").flatMap { Int($0.filter { !$0.isWhitespace }) }
    }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
