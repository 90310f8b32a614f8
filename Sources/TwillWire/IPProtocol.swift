/// IP protocol / next-header numbers used here.
public enum IPProtocol {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let icmpv6: UInt8 = 58
    // IPv6 extension headers that may stand between the fixed header and the transport.
    public static let hopByHop: UInt8 = 0
    public static let routing: UInt8 = 43
    public static let fragment: UInt8 = 44
    public static let authentication: UInt8 = 51
    public static let destinationOptions: UInt8 = 60
    public static let noNextHeader: UInt8 = 59
}
