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
        var result: [UnderlayInterface] = []
        eachAddress { name, flags, address in
            guard case .v4(let a) = address, includeLoopback || flags & UInt32(IFF_LOOPBACK) == 0 else { return }
            result.append(UnderlayInterface(name: name, address: a, mtu: mtu(of: name) ?? 1500))
        }
        return result
    }

    /// Every IPv4 and IPv6 address of every interface: its name, its flags and the address.
    private static func eachAddress(_ body: (String, UInt32, IPAddress) -> Void) {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return }
        defer { freeifaddrs(head) }
        var p = head
        while let ifa = p {
            defer { p = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr else { continue }
            let length: Int
            switch Int32(sa.pointee.sa_family) {
            case AF_INET: length = MemoryLayout<sockaddr_in>.size
            case AF_INET6: length = MemoryLayout<sockaddr_in6>.size
            default: continue
            }
            // SocketAddress already decodes both families.
            var decoded = SocketAddress()
            withUnsafeMutableBytes(of: &decoded.storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: length)) }
            guard let address = decoded.ipAddress else { continue }
            body(String(cString: ifa.pointee.ifa_name), ifa.pointee.ifa_flags, address)
        }
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
        var result: [IPv6Address] = []
        eachAddress { interface, _, address in
            guard interface == name, case .v6(let a) = address else { return }
            let linkLocal = a.high >> 54 == 0x3fa // fe80::/10
            if linkLocal || a.isMulticast || a == IPv6Address(high: 0, low: 1) { return }
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
