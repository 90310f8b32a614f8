// The network config parser (flannel's `<prefix>/config` JSON) over any bytes. TwillControl's parsing
// files are compiled into this module (scripts/fuzz.sh), so the JSON layer is reachable too: a parsed
// document re-serializes, compact and indented, to text that parses back to the same document. A
// refused config names a known field and a rule; an accepted one satisfies every rule and survives its
// own JSON (`jsonString`) unchanged.
import Foundation

/// Every field a refusal may name (the messages are what operators see).
private let configFields: Set<String> = [
    "JSON", "Network", "SubnetLen", "SubnetMin", "SubnetMax", "Backend", "Backend.Type", "Backend.Port",
    "Backend.VNI", "Backend.MTU", "EnableIPv4", "EnableIPv6", "IPv6Network", "IPv6SubnetMin", "IPv6SubnetMax",
    "IPv6SubnetLen",
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetworkConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let document = try? JSONParser.parse(bytes) {
        for text in [document.serialized(), document.serialized(indent: 2)] {
            guard let again = try? JSONParser.parse(text) else { fuzzFail("serialized JSON refused: \(text)") }
            fuzzCheck(again == document, "JSON round trip changed the document: \(text)")
        }
    }
    let config: NetworkConfig
    do {
        config = try NetworkConfig(json: Data(bytes))
    } catch {
        fuzzCheck(configFields.contains(error.field), "refusal names an unknown field: \(error)")
        fuzzCheck(!error.rule.isEmpty, "refusal without a rule: \(error)")
        return 0
    }
    let network = config.network
    let length = config.subnetLength
    fuzzCheck(network.prefixLength <= NetworkConfig.longestNetworkPrefix, "Network /\(network.prefixLength) accepted")
    fuzzCheck(length >= network.prefixLength + 2 && length <= NetworkConfig.longestSubnetLength, "SubnetLen \(length) for \(network)")
    for bound in [config.subnetMin, config.subnetMax] {
        guard let subnet = IPv4Subnet(address: bound, prefixLength: length), subnet.address == bound else {
            fuzzFail("bound \(bound) is not the start of a /\(length)")
        }
        fuzzCheck(config.fits(subnet), "bound \(subnet) does not fit \(config.jsonString)")
    }
    fuzzCheck(config.subnetMin <= config.subnetMax, "SubnetMin above SubnetMax")
    if let v6 = config.ipv6 {
        let n = v6.network
        fuzzCheck(n.prefixLength <= IPv6NetworkConfig.longestNetworkPrefix, "IPv6Network /\(n.prefixLength) accepted")
        fuzzCheck(v6.subnetLength >= n.prefixLength + 2 && v6.subnetLength <= IPv6NetworkConfig.longestSubnetLength,
                  "IPv6SubnetLen \(v6.subnetLength) for \(n)")
        for bound in [v6.subnetMin, v6.subnetMax] {
            guard let subnet = IPv6Subnet(address: bound, prefixLength: v6.subnetLength), subnet.address == bound else {
                fuzzFail("IPv6 bound \(bound) is not the start of a /\(v6.subnetLength)")
            }
            fuzzCheck(v6.fits(subnet), "IPv6 bound \(subnet) does not fit \(config.jsonString)")
        }
        fuzzCheck(v6.subnetMin <= v6.subnetMax, "IPv6SubnetMin above IPv6SubnetMax")
    }
    fuzzCheck(config.backend.port != 0, "port 0 kept")
    fuzzCheck(config.backend.vni <= BackendConfig.maximumVNI, "VNI \(config.backend.vni)")
    if let mtu = config.backend.mtu { fuzzCheck((68...65535).contains(mtu), "MTU \(mtu)") }
    let mtu = config.mtu(underlayMTU: 1500)
    fuzzCheck(mtu == (config.backend.mtu ?? 1500 - config.backend.format.overhead(ipv6Underlay: false)), "MTU \(mtu)")
    let text = config.jsonString
    guard let again = try? NetworkConfig(jsonString: text) else { fuzzFail("own JSON refused: \(text)") }
    fuzzCheck(again == config, "own JSON changed the config: \(text)")
    return 0
}
