import TwillWire

/// Failures of a LeaseStore, each worded so an operator knows what happened and what to do.
public enum LeaseStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The lease expired or another node holds the subnet now; acquire a lease again.
    case leaseLost(IPv4Subnet)
    /// The store's data cannot be read; the store was left exactly as found.
    case corruptStore(path: String, reason: String)
    /// Every subnet in SubnetMin...SubnetMax is leased.
    case noFreeSubnet(min: IPv4Address, max: IPv4Address, subnetLength: Int)
    /// There is no network config at `where`; `fix` says how to provide one.
    case configMissing(where: String, fix: String)
    /// The network config at `where` breaks a rule.
    case invalidConfig(where: String, ConfigError)
    /// Reading or writing the store failed at the operating-system level.
    case io(path: String, reason: String)
    /// Another process held the store's lock for too long.
    case lockTimeout(path: String, waited: Duration)
    /// Other nodes won the race for the chosen subnet on every attempt.
    case raceLost(attempts: Int)

    public var description: String {
        switch self {
        case .leaseLost(let subnet):
            "the lease on \(subnet) is lost: it expired or another node holds it now"
        case .corruptStore(let path, let reason):
            "the lease store \(path) is corrupt (\(reason)); it was left untouched: repair it, or remove it "
                + "so that every node acquires its lease again"
        case .noFreeSubnet(let min, let max, let length):
            "no free subnet in SubnetMin..SubnetMax (\(min)/\(length) to \(max)/\(length)): every one is leased; "
                + "widen the range or wait for unused leases to expire"
        case .configMissing(let location, let fix):
            "no network config at \(location): \(fix)"
        case .invalidConfig(let location, let error):
            "the network config at \(location) is invalid: \(error.field) \(error.rule)"
        case .io(let path, let reason):
            "\(path): \(reason)"
        case .lockTimeout(let path, let waited):
            "gave up after \(waited) waiting for the lock \(path): another process holds it"
        case .raceLost(let attempts):
            "other nodes took the chosen subnet \(attempts) times in a row; giving up"
        }
    }
}
