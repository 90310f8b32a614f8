import CNetlink
import Glibc
import TwillWire

/// A netlink error from libnl.
public struct NetlinkError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation): \(String(cString: nl_geterror(code)))" }
}

/// Links, addresses and routes through libnl-route-3 (Debian's libnl), in the network namespace of
/// the calling thread at creation. Not thread-safe: one owner at a time.
public final class Netlink {
    private let sock: OpaquePointer

    public init() throws(NetlinkError) {
        guard let s = nl_socket_alloc() else { throw NetlinkError(operation: "nl_socket_alloc", code: -NLE_NOMEM) }
        let rc = nl_connect(s, NETLINK_ROUTE)
        guard rc == 0 else {
            nl_socket_free(s)
            throw NetlinkError(operation: "nl_connect", code: rc)
        }
        sock = s
    }

    deinit { nl_socket_free(sock) }

    /// The interface index of `name`, or nil when there is none.
    public static func index(of name: String) -> Int32? {
        let i = if_nametoindex(name)
        return i == 0 ? nil : Int32(i)
    }

    private func check(_ rc: Int32, _ what: @autoclosure () -> String) throws(NetlinkError) {
        if rc < 0 { throw NetlinkError(operation: what(), code: rc) }
    }

    private func link(_ name: String) throws(NetlinkError) -> OpaquePointer {
        var l: OpaquePointer?
        try check(rtnl_link_get_kernel(sock, 0, name, &l), "get link \(name)")
        guard let l else { throw NetlinkError(operation: "get link \(name)", code: -NLE_OBJ_NOTFOUND) }
        return l
    }

    /// Sets the link's MTU and brings it up (or down).
    public func setLink(_ name: String, up: Bool, mtu: Int? = nil) throws(NetlinkError) {
        let orig = try link(name)
        defer { rtnl_link_put(orig) }
        guard let change = rtnl_link_alloc() else { throw NetlinkError(operation: "rtnl_link_alloc", code: -NLE_NOMEM) }
        defer { rtnl_link_put(change) }
        if let mtu { rtnl_link_set_mtu(change, UInt32(mtu)) }
        if up { rtnl_link_set_flags(change, UInt32(IFF_UP)) } else { rtnl_link_unset_flags(change, UInt32(IFF_UP)) }
        try check(rtnl_link_change(sock, orig, change, 0), "change link \(name)")
    }

    /// Deletes a link by name.
    public func deleteLink(_ name: String) throws(NetlinkError) {
        let l = try link(name)
        defer { rtnl_link_put(l) }
        try check(rtnl_link_delete(sock, l), "delete link \(name)")
    }

    private func nlAddress(_ a: IPAddress, prefix: Int) throws(NetlinkError) -> OpaquePointer {
        let built: OpaquePointer?
        switch a {
        case .v4(let v4):
            var be = v4.value.bigEndian
            built = nl_addr_build(AF_INET, &be, 4)
        case .v6(let v6):
            var be = (v6.high.bigEndian, v6.low.bigEndian)
            built = nl_addr_build(AF_INET6, &be, 16)
        }
        guard let addr = built else { throw NetlinkError(operation: "nl_addr_build", code: -NLE_NOMEM) }
        nl_addr_set_prefixlen(addr, Int32(prefix))
        return addr
    }

    /// Adds `address/prefix` to the link (an existing identical address is not an error).
    public func addAddress(_ address: IPv4Address, prefixLength: Int, to name: String) throws(NetlinkError) {
        try addAddress(.v4(address), prefixLength: prefixLength, to: name)
    }

    /// Adds an IPv4 or IPv6 address; IPv6 ones skip duplicate address detection (IFA_F_NODAD), so
    /// the address is usable at once rather than tentative for a second or two.
    public func addAddress(_ address: IPAddress, prefixLength: Int, to name: String) throws(NetlinkError) {
        guard let index = Netlink.index(of: name) else { throw NetlinkError(operation: "no link \(name)", code: -NLE_OBJ_NOTFOUND) }
        guard let a = rtnl_addr_alloc() else { throw NetlinkError(operation: "rtnl_addr_alloc", code: -NLE_NOMEM) }
        defer { rtnl_addr_put(a) }
        let local = try nlAddress(address, prefix: prefixLength)
        defer { nl_addr_put(local) }
        rtnl_addr_set_ifindex(a, index)
        try check(rtnl_addr_set_local(a, local), "set local address")
        if case .v6 = address { rtnl_addr_set_flags(a, UInt32(IFA_F_NODAD)) }
        let rc = rtnl_addr_add(sock, a, TWILL_NLM_F_CREATE | TWILL_NLM_F_REPLACE)
        if rc != -NLE_EXIST { try check(rc, "add address \(address)/\(prefixLength) to \(name)") }
    }

    private func route(_ destination: IPv4Subnet, device: String, gateway: IPv4Address?, onlink: Bool) throws(NetlinkError) -> OpaquePointer {
        try route(.v4(destination.address), destination.prefixLength, device: device, gateway: gateway.map { .v4($0) },
                  onlink: onlink)
    }

    private func route(_ destination: IPAddress, _ prefixLength: Int, device: String, gateway: IPAddress?,
                       onlink: Bool) throws(NetlinkError) -> OpaquePointer {
        guard let index = Netlink.index(of: device) else { throw NetlinkError(operation: "no link \(device)", code: -NLE_OBJ_NOTFOUND) }
        guard let r = rtnl_route_alloc() else { throw NetlinkError(operation: "rtnl_route_alloc", code: -NLE_NOMEM) }
        let v6: Bool
        if case .v6 = destination { v6 = true } else { v6 = false }
        rtnl_route_set_family(r, UInt8(v6 ? AF_INET6 : AF_INET))
        rtnl_route_set_table(r, UInt32(RT_TABLE_MAIN.rawValue))
        let dst = try nlAddress(destination, prefix: prefixLength)
        defer { nl_addr_put(dst) }
        _ = rtnl_route_set_dst(r, dst)
        // A device route is link scope; one via a gateway is universe scope. IPv6 routes are always
        // universe scope.
        rtnl_route_set_scope(r, UInt8(gateway == nil && !v6 ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue))
        guard let nh = rtnl_route_nh_alloc() else { rtnl_route_put(r); throw NetlinkError(operation: "rtnl_route_nh_alloc", code: -NLE_NOMEM) }
        rtnl_route_nh_set_ifindex(nh, index)
        if let gateway {
            let gw = try nlAddress(gateway, prefix: v6 ? 128 : 32)
            rtnl_route_nh_set_gateway(nh, gw)
            nl_addr_put(gw)
        }
        if onlink { rtnl_route_nh_set_flags(nh, UInt32(RTNH_F_ONLINK)) }
        rtnl_route_add_nexthop(r, nh)
        return r
    }

    /// Adds (or replaces) a route to `destination` through `device`.
    public func addRoute(_ destination: IPv4Subnet, device: String, gateway: IPv4Address? = nil,
                         onlink: Bool = false) throws(NetlinkError) {
        let r = try route(destination, device: device, gateway: gateway, onlink: onlink)
        defer { rtnl_route_put(r) }
        try check(rtnl_route_add(sock, r, TWILL_NLM_F_CREATE | TWILL_NLM_F_REPLACE), "add route \(destination) dev \(device)")
    }

    /// Deletes the route; one already gone is not an error.
    public func deleteRoute(_ destination: IPv4Subnet, device: String, gateway: IPv4Address? = nil,
                            onlink: Bool = false) throws(NetlinkError) {
        let r = try route(destination, device: device, gateway: gateway, onlink: onlink)
        defer { rtnl_route_put(r) }
        let rc = rtnl_route_delete(sock, r, 0)
        if rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NOADDR { try check(rc, "delete route \(destination) dev \(device)") }
    }

    /// Adds (or replaces) a route to an IPv6 prefix through `device`.
    public func addRoute(_ destination: IPv6Subnet, device: String) throws(NetlinkError) {
        let r = try route(.v6(destination.address), destination.prefixLength, device: device, gateway: nil, onlink: false)
        defer { rtnl_route_put(r) }
        try check(rtnl_route_add(sock, r, TWILL_NLM_F_CREATE | TWILL_NLM_F_REPLACE), "add route \(destination) dev \(device)")
    }
}
