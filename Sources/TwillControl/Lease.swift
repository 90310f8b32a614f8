import Foundation
import TwillWire

/// One node's claim on a subnet, valid until `expiration`.
public struct Lease: Sendable, Equatable {
    public var subnet: IPv4Subnet
    public var attributes: LeaseAttributes
    public var expiration: Date

    public init(subnet: IPv4Subnet, attributes: LeaseAttributes, expiration: Date) {
        self.subnet = subnet
        self.attributes = attributes
        self.expiration = expiration
    }

    public var key: String { Lease.key(for: subnet) }

    public func isExpired(at now: Date = Date()) -> Bool { expiration <= now }

    /// flannel's subnet key, the last component of `<prefix>/subnets/10.5.52.0-24`.
    public static func key(for subnet: IPv4Subnet) -> String { "\(subnet.address)-\(subnet.prefixLength)" }

    /// The IPv4 subnet of a key: "10.5.52.0-24", a dual-stack "10.5.52.0-24&fc00::-64" (the IPv6 half is
    /// ignored), or a full etcd path ending in one. Nil for anything else, including stray host bits.
    public static func parseKey(_ key: some StringProtocol) -> IPv4Subnet? {
        var name = Substring(key)
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        if let amp = name.firstIndex(of: "&") {
            let v6 = name[name.index(after: amp)...]
            guard let dash = v6.lastIndex(of: "-"), IPv6Address(v6[..<dash]) != nil,
                  let length = Int(v6[v6.index(after: dash)...]), (0...128).contains(length) else { return nil }
            name = name[..<amp]
        }
        guard let dash = name.lastIndex(of: "-"), let address = IPv4Address(name[..<dash]) else { return nil }
        let lengthText = name[name.index(after: dash)...]
        // Digits only: Int() alone would also take "+24".
        let digitsOnly = lengthText.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !lengthText.isEmpty, digitsOnly, let length = Int(lengthText),
              let subnet = IPv4Subnet(address: address, prefixLength: length), subnet.address == address
        else { return nil }
        return subnet
    }
}

