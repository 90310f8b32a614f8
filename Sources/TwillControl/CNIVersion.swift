/// The CNI spec versions the plugin speaks. They are those of Debian 12's containernetworking-plugins
/// 1.1.1 (its `bridge` and `host-local` answer VERSION with exactly these), since every request is
/// handed to such a delegate in the caller's version; 1.1.0 would add GC and STATUS, which they lack.
public enum CNIVersion {
    public static let supported = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]
    public static let newest = "1.0.0"
    /// CHECK arrived in 0.4.0; a config of an older version must not be asked to run it.
    public static let firstWithCheck = "0.4.0"

    /// The VERSION reply.
    public static var reply: String {
        JSONValue.object([
            ("cniVersion", .string(newest)),
            ("supportedVersions", .array(supported.map { .string($0) })),
        ]).serialized()
    }

    public static func isSupported(_ version: String) -> Bool { supported.contains(version) }

    /// `version` >= `minimum`, comparing dotted numbers (both must be well-formed; the supported list is).
    public static func isAtLeast(_ version: String, _ minimum: String) -> Bool {
        let parts = { (text: String) in text.split(separator: ".").map { Int($0) ?? 0 } }
        let a = parts(version)
        let b = parts(minimum)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            if x != y { return x > y }
        }
        return true
    }
}
