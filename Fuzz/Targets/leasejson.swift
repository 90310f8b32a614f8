// The lease parsers over any bytes, each fed the same input: flannel's lease value JSON (what etcd and
// the embedded store hold per subnet), the subnet key ("10.5.52.0-24", dual stack, full etcd path),
// and the embedded store's whole file. TwillControl's parsing files are compiled into this module
// (scripts/fuzz.sh). Refusals name a known field; what is accepted writes itself back to the same
// bytes and values.
import Foundation

/// Every field a lease value refusal may name.
private let leaseFields: Set<String> = ["JSON", "PublicIP", "PublicIPv6", "BackendType", "BackendData", "BackendData.VNI",
                                        "BackendData.VtepMAC", "BackendV6Data", "BackendV6Data.VNI", "BackendV6Data.VtepMAC"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLeaseJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkLeaseValue(bytes)
    checkKey(String(decoding: bytes, as: UTF8.self))
    checkStoreFile(bytes)
    return 0
}

private func checkLeaseValue(_ bytes: [UInt8]) {
    let attributes: LeaseAttributes
    do {
        attributes = try LeaseAttributes(json: Data(bytes))
    } catch {
        fuzzCheck(leaseFields.contains(error.field) && !error.problem.isEmpty, "lease refusal: \(error)")
        return
    }
    fuzzCheck(!attributes.backendType.isEmpty, "empty backend type kept")
    if attributes.backendType != "vxlan" {
        fuzzCheck(attributes.vni == nil && attributes.vtepMAC == nil && attributes.vniV6 == nil && attributes.vtepMACv6 == nil,
                  "backend data read for \(attributes.backendType)")
    }
    let text = attributes.jsonString
    guard let again = try? LeaseAttributes(jsonString: text) else { fuzzFail("own lease JSON refused: \(text)") }
    fuzzCheck(again == attributes, "own lease JSON changed the lease: \(text)")
    fuzzCheck(again.jsonString == text, "lease JSON not stable: \(text) then \(again.jsonString)")
}

private func checkKey(_ text: String) {
    guard let subnet = Lease.parseKey(text) else { return }
    fuzzCheck(IPv4Subnet(address: subnet.address, prefixLength: subnet.prefixLength)?.address == subnet.address,
              "key \(text) gave a subnet with host bits")
    let key = Lease.key(for: subnet)
    fuzzCheck(Lease.parseKey(key) == subnet, "key \(key) of \(subnet) does not parse back")
    // A key that parses has its dual-stack reading too, with the same IPv4 half, and writes itself back.
    guard let pair = Lease.parseDualStackKey(text) else { fuzzFail("key \(text) parses but not as a dual-stack key") }
    fuzzCheck(pair.v4 == subnet, "dual-stack reading of \(text) has another IPv4 half")
    if let v6 = pair.v6 {
        fuzzCheck(IPv6Subnet(address: v6.address, prefixLength: v6.prefixLength)?.address == v6.address,
                  "key \(text) gave an IPv6 subnet with host bits")
    }
    let pairKey = Lease.key(for: pair.v4, v6: pair.v6)
    guard let back = Lease.parseDualStackKey(pairKey) else { fuzzFail("own key \(pairKey) refused") }
    fuzzCheck(back.v4 == pair.v4 && back.v6 == pair.v6, "key \(pairKey) does not parse back")
}

private func checkStoreFile(_ bytes: [UInt8]) {
    let file: LeaseFile
    do {
        file = try LeaseFile(bytes: bytes, path: "/fuzz/store.json")
    } catch {
        guard case .corruptStore(let path, let reason) = error, path == "/fuzz/store.json", !reason.isEmpty else {
            fuzzFail("store refusal is not a corruption naming the file: \(error)")
        }
        return
    }
    let written = file.bytes
    let again: LeaseFile
    do { again = try LeaseFile(bytes: written, path: "/fuzz/store.json") } catch {
        fuzzFail("own store file refused: \(error)\n\(String(decoding: written, as: UTF8.self))")
    }
    let order = { (a: LeaseRecord, b: LeaseRecord) in a.lease.subnet < b.lease.subnet }
    fuzzCheck(again.records.sorted(by: order) == file.records.sorted(by: order),
              "own store file changed the leases:\n\(String(decoding: written, as: UTF8.self))")
    fuzzCheck(again.bytes == written, "store file not stable")
    _ = file.leases(unexpiredAt: Date(timeIntervalSince1970: 1_700_000_000))
}
