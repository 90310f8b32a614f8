import Foundation
import TwillWire

/// The embedded store's file: a version and the subnet leases, each value in flannel's lease JSON
/// (a string, as in etcd) with its expiration:
///
///     {"version": 1, "subnets": {"10.5.52.0-24": {"value": "{\"PublicIP\":...}", "expiration": "..."}}}
struct LeaseFile: Sendable, Equatable {
    static let version = 1

    private(set) var records: [LeaseRecord] = []

    init() {}

    /// Parses and validates the whole file; any flaw is reported as corruption naming `path`. An empty
    /// file (never written by Twill, but easily made by hand) holds no leases.
    init(bytes: [UInt8], path: String) throws(LeaseStoreError) {
        guard !bytes.isEmpty else { return }
        func corrupt(_ reason: String) -> LeaseStoreError { .corruptStore(path: path, reason: reason) }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw corrupt("not JSON: \(error)")
        }
        guard case .object = document else { throw corrupt("the top level must be an object") }
        if let version = document["version"] {
            guard version.integer == LeaseFile.version else {
                throw corrupt("unsupported version \(version.serialized()) (this Twill reads version "
                    + "\(LeaseFile.version))")
            }
        }
        guard let subnets = document["subnets"] else { return }
        guard case .object(let entries) = subnets else { throw corrupt("\"subnets\" must be an object") }
        var seen = Set<IPv4Subnet>()
        for (key, entry) in entries {
            guard let value = entry["value"]?.string else {
                throw corrupt("subnet \(key): \"value\" must be a string holding flannel's lease JSON")
            }
            guard let text = entry["expiration"]?.string, let expiration = LeaseRecord.parseTime(text) else {
                throw corrupt("subnet \(key): \"expiration\" must be a time such as \"2025-01-01T00:00:00.000Z\"")
            }
            let record: LeaseRecord
            do {
                record = try LeaseRecord(key: key, value: value, expiration: expiration)
            } catch {
                throw corrupt("subnet \(key): \(error)")
            }
            guard seen.insert(record.lease.subnet).inserted else { throw corrupt("subnet \(key) appears twice") }
            records.append(record)
        }
    }

    /// Indented so the file reads well in an editor; subnets in address order for stable diffs.
    var bytes: [UInt8] {
        let entries = records.sorted { $0.lease.subnet < $1.lease.subnet }.map { record in
            (key: record.key, value: JSONValue.object([
                ("value", .string(record.value)),
                ("expiration", .string(record.expirationText)),
            ]))
        }
        let document = JSONValue.object([("version", .int(LeaseFile.version)), ("subnets", .object(entries))])
        return Array((document.serialized(indent: 2) + "\n").utf8)
    }

    /// The leases still valid at `now`, in subnet order.
    func leases(unexpiredAt now: Date) -> [Lease] {
        records.map(\.lease).filter { !$0.isExpired(at: now) }.sorted { $0.subnet < $1.subnet }
    }

    func record(for subnet: IPv4Subnet) -> LeaseRecord? { records.first { $0.lease.subnet == subnet } }

    /// Drops expired leases and returns them (for logging).
    @discardableResult
    mutating func removeExpired(at now: Date) -> [Lease] {
        let expired = records.filter { $0.lease.isExpired(at: now) }.map(\.lease)
        records.removeAll { $0.lease.isExpired(at: now) }
        return expired
    }

    /// Adds or replaces the lease on its subnet.
    mutating func set(_ lease: Lease) {
        remove(lease.subnet)
        records.append(LeaseRecord(lease: lease))
    }

    mutating func remove(_ subnet: IPv4Subnet) { records.removeAll { $0.lease.subnet == subnet } }
}
