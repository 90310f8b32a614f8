import Foundation

/// One entry of the embedded store: the key and value exactly as etcd would hold them, and the
/// expiration etcd would track as the key's lease.
struct LeaseRecord: Sendable, Equatable {
    /// The etcd-style key ("10.5.52.0-24", or "10.5.52.0-24&fc00:0:0:34::-64" for dual stack), kept verbatim.
    var key: String
    /// flannel's lease-value JSON, kept verbatim so entries written by others survive our rewrites.
    var value: String
    var lease: Lease

    init(lease: Lease) {
        key = lease.key
        value = lease.attributes.jsonString
        self.lease = lease
    }

    init(key: String, value: String, expiration: Date) throws(LeaseFormatError) {
        guard let subnets = Lease.parseDualStackKey(key) else {
            throw LeaseFormatError(field: "key", problem: "\"\(key)\" is not a subnet key such as \"10.5.52.0-24\" "
                + "or \"10.5.52.0-24&fc00:0:0:34::-64\"")
        }
        self.key = key
        self.value = value
        lease = Lease(subnet: subnets.v4, subnetV6: subnets.v6, attributes: try LeaseAttributes(jsonString: value),
                      expiration: expiration)
    }

    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let wholeSecondFormat = Date.ISO8601FormatStyle()

    /// The stored expiration text (UTC, milliseconds), which people can read at a glance. The
    /// milliseconds are written from the integer count, since formatting the Double can truncate
    /// 0.123 to ".122".
    var expirationText: String {
        let millis = Int64((lease.expiration.timeIntervalSince1970 * 1000).rounded())
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let fraction = String(millis - seconds * 1000)
        let whole = LeaseRecord.wholeSecondFormat.format(Date(timeIntervalSince1970: Double(seconds)))
        return whole.dropLast() + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }

    static func parseTime(_ text: String) -> Date? {
        (try? timeFormat.parse(text)).map(roundedToMilliseconds)
    }

    /// Expirations are kept to whole milliseconds so a lease read back equals the one written.
    static func roundedToMilliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}
