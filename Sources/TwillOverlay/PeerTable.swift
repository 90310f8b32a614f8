import TwillIO
import TwillWire

/// An immutable snapshot of the peers, built for the datapath: longest-prefix match from an inner
/// destination to a peer, and a lookup from an outer source address to a peer. Lookups are binary
/// searches over sorted arrays: no hashing, no allocation.
public struct PeerTable: Sendable {
    public let peers: [Peer]
    /// Each peer's underlay socket address, precomputed so the send path only copies it.
    let endpoints: [SocketAddress]
    /// Where IPv6 inner packets go: the IPv6 underlay endpoint where both ends have one, else `endpoints`.
    let endpointsV6: [SocketAddress]
    /// The VTEP MAC for IPv6 inner frames.
    let macsV6: [MACAddress]
    /// IPv6 subnets per distinct prefix length, longest first, like `prefixes`.
    private let prefixesV6: [(length: Int, networks: [IPv6Address], indices: [Int])]
    /// Per distinct prefix length, longest first: sorted network addresses and their peer index.
    private let prefixes: [(length: Int, mask: UInt32, networks: [UInt32], indices: [Int])]
    /// IPv4 underlay addresses, sorted, and their peer index.
    private let underlay4: [UInt32]
    private let underlay4Index: [Int]
    private let underlay6: [IPv6Address]
    private let underlay6Index: [Int]

    public static let empty = PeerTable(peers: [])

    /// Builds the table. When two peers claim the same subnet, the first one wins.
    public init(peers input: [Peer]) {
        var seen = Set<IPv4Subnet>()
        let peers = input.filter { seen.insert($0.subnet).inserted }
        self.peers = peers
        endpoints = peers.map { SocketAddress($0.underlay, port: $0.port) }
        endpointsV6 = peers.map { p in SocketAddress(p.underlayV6.map { .v6($0) } ?? p.underlay, port: p.port) }
        macsV6 = peers.map { $0.vtepMACv6 ?? $0.vtepMAC }
        var byLengthV6: [Int: [(IPv6Address, Int)]] = [:]
        var seenV6 = Set<IPv6Subnet>()
        for (i, p) in peers.enumerated() {
            guard let s = p.subnetV6, seenV6.insert(s).inserted else { continue }
            byLengthV6[s.prefixLength, default: []].append((s.address, i))
        }
        prefixesV6 = byLengthV6.keys.sorted(by: >).map { len in
            let sorted = byLengthV6[len]!.sorted { $0.0 < $1.0 }
            return (len, sorted.map(\.0), sorted.map(\.1))
        }
        var byLength: [Int: [(UInt32, Int)]] = [:]
        for (i, p) in peers.enumerated() { byLength[p.subnet.prefixLength, default: []].append((p.subnet.address.value, i)) }
        prefixes = byLength.keys.sorted(by: >).map { len in
            let sorted = byLength[len]!.sorted { $0.0 < $1.0 }
            return (len, IPv4Subnet.mask(len), sorted.map(\.0), sorted.map(\.1))
        }
        var u4: [(UInt32, Int)] = []
        var u6: [(IPv6Address, Int)] = []
        for (i, p) in peers.enumerated() {
            switch p.underlay {
            case .v4(let a): u4.append((a.value, i))
            case .v6(let a): u6.append((a, i))
            }
            if let a = p.underlayV6, p.underlay != .v6(a) { u6.append((a, i)) }
        }
        u4.sort { $0.0 < $1.0 }
        u6.sort { $0.0 < $1.0 }
        underlay4 = u4.map(\.0)
        underlay4Index = u4.map(\.1)
        underlay6 = u6.map(\.0)
        underlay6Index = u6.map(\.1)
    }

    public var count: Int { peers.count }

    @inline(__always)
    private static func search<T: Comparable>(_ a: [T], _ key: T) -> Int? {
        var lo = 0
        var hi = a.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if a[mid] < key { lo = mid + 1 } else { hi = mid }
        }
        return lo < a.count && a[lo] == key ? lo : nil
    }

    /// The peer whose subnet holds `destination` (longest prefix first).
    @inline(__always)
    public func peerIndex(for destination: IPv4Address) -> Int? {
        for p in prefixes {
            if let i = PeerTable.search(p.networks, destination.value & p.mask) { return p.indices[i] }
        }
        return nil
    }

    /// The peer whose IPv6 subnet holds `destination` (longest prefix first).
    @inline(__always)
    public func peerIndex(for destination: IPv6Address) -> Int? {
        for p in prefixesV6 {
            let m = IPv6Subnet.mask(p.length)
            let key = IPv6Address(high: destination.high & m.high, low: destination.low & m.low)
            if let i = PeerTable.search(p.networks, key) { return p.indices[i] }
        }
        return nil
    }

    /// The peer whose underlay address is `address`.
    @inline(__always)
    public func peerIndex(underlay address: IPAddress) -> Int? {
        switch address {
        case .v4(let a): PeerTable.search(underlay4, a.value).map { underlay4Index[$0] }
        case .v6(let a): PeerTable.search(underlay6, a).map { underlay6Index[$0] }
        }
    }

    @inline(__always)
    public func endpoint(_ index: Int) -> SocketAddress { endpoints[index] }

    /// Where an inner packet of IP `version` to peer `index` goes, and the inner destination MAC.
    @inline(__always)
    public func destination(_ index: Int, version: UInt8) -> (endpoint: SocketAddress, mac: MACAddress) {
        version == 6 ? (endpointsV6[index], macsV6[index]) : (endpoints[index], peers[index].vtepMAC)
    }
}
