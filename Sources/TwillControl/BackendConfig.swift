import TwillWire

/// The `Backend` section of the network config, with flannel's defaults already applied.
public struct BackendConfig: Sendable, Equatable {
    public var format: EncapsulationFormat
    /// The underlay UDP port (flannel: 8285 for udp, 8472 for vxlan).
    public var port: UInt16
    /// The VXLAN network identifier; only meaningful for vxlan (kept at 1 for udp).
    public var vni: UInt32
    /// An explicit overlay MTU; nil means "derive it from the underlay".
    public var mtu: Int?

    public static let defaultVNI: UInt32 = 1
    public static let maximumVNI: UInt32 = 0xFF_FFFF

    /// `port` 0 means the format's default port, as in flannel.
    public init(format: EncapsulationFormat = .vxlan, port: UInt16 = 0, vni: UInt32 = BackendConfig.defaultVNI,
                mtu: Int? = nil) {
        self.format = format
        self.port = port == 0 ? format.defaultPort : port
        self.vni = vni
        self.mtu = mtu
    }
}
