import TwillWire

/// 128-bit arithmetic for walking IPv6 subnets; TwillWire keeps addresses as two halves, and
/// subnet stepping needs the carry between them.
extension IPv6Address {
    init(value: UInt128) {
        self.init(high: UInt64(truncatingIfNeeded: value >> 64), low: UInt64(truncatingIfNeeded: value))
    }

    var value: UInt128 { UInt128(high) << 64 | UInt128(low) }
}

extension IPv6Subnet {
    /// The number of addresses in a subnet of `prefixLength`, minus one, so a /0 still fits in 128 bits.
    static func sizeMinusOne(prefixLength: Int) -> UInt128 {
        prefixLength == 0 ? .max : (UInt128(1) << UInt128(128 - prefixLength)) - 1
    }

    /// The first host address (network address + 1), which flannel gives the bridge.
    var gatewayAddress: IPv6Address { IPv6Address(value: address.value &+ 1) }
}
