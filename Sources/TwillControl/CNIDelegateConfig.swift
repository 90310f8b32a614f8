/// The network config handed to the delegate plugin (`bridge` unless the config says otherwise), built
/// as flannel's CNI plugin builds it from the subnet file and written as Go writes that map (keys
/// sorted); the data directory's files read the same in both plugins.
public struct CNIDelegateConfig: Sendable, Equatable {
    /// The delegate plugin's executable name, looked up in CNI_PATH.
    public let type: String
    let document: JSONValue

    /// The config's bytes, for the delegate's stdin and for the file DEL and CHECK read back.
    public var bytes: [UInt8] { Array(document.serialized().utf8) }

    /// ADD's config. The network config's `delegate` members stay as written except `name` (the
    /// network's), `cniVersion` (the network's, when it has one) and `ipam`; `type` defaults to bridge,
    /// `ipMasq` to the opposite of FLANNEL_IPMASQ (masquerade here when the daemon does not), `mtu` to
    /// FLANNEL_MTU and, for bridge, `isGateway` to true. `ipam` is the network config's `ipam` with
    /// `type` defaulting to host-local, `ranges` set to the subnet and the Network added to `routes`
    /// (with the bridge's address as its gateway when host-local assigns the addresses). A dual-stack
    /// subnet file adds a second range set (the IPv6 subnet) and the IPv6 network's route, as flannel's
    /// plugin does.
    public init(network: CNINetworkConfig, subnetFile: SubnetFile) {
        var config = network.delegate
        if let runtimeConfig = network.runtimeConfig { config = config.setting("runtimeConfig", to: runtimeConfig) }
        config = config.setting("name", to: .string(network.name))
        func setDefault(_ key: String, _ value: JSONValue) {
            if config.member(key) == nil { config = config.setting(key, to: value) }
        }
        setDefault("type", .string("bridge"))
        setDefault("ipMasq", .bool(!subnetFile.ipMasq))
        setDefault("mtu", .int(subnetFile.mtu))
        // The network config was checked: a present type is a non-empty string.
        let type = config.member("type")?.string ?? "bridge"
        if type == "bridge" { setDefault("isGateway", .bool(true)) }
        if let version = network.cniVersion { config = config.setting("cniVersion", to: .string(version)) }

        var ipam = network.ipam
        if ipam.member("type") == nil { ipam = ipam.setting("type", to: .string("host-local")) }
        // One range set per family: host-local then gives each container one address of each.
        var rangeSets: [JSONValue] = [.array([.object([("subnet", .string(subnetFile.subnet.description))])])]
        if let v6 = subnetFile.ipv6Subnet {
            rangeSets.append(.array([.object([("subnet", .string(v6.description))])]))
        }
        ipam = ipam.setting("ranges", to: .array(rangeSets))
        var routes: [JSONValue] = []
        if case .array(let given)? = ipam.member("routes") { routes = given }
        // flannel leaves the gateway out. With host-local it is the subnet's first address anyway (the
        // bridge's), and naming it lets bridge's CHECK before containernetworking-plugins 1.3.0 (Debian
        // 12 ships 1.1.1) find the route, which it otherwise never does (containernetworking/plugins#886).
        let namesGateway = ipam.member("type")?.string == "host-local"
        func route(_ network: String, gateway: String?) -> JSONValue {
            var members: [(key: String, value: JSONValue)] = [("dst", .string(network))]
            if namesGateway, let gateway { members.append(("gw", .string(gateway))) }
            return .object(members)
        }
        routes.append(route(subnetFile.network.description, gateway: subnetFile.gatewayAddress.description))
        if let v6Network = subnetFile.ipv6Network {
            routes.append(route(v6Network.description, gateway: subnetFile.ipv6GatewayAddress?.description))
        }
        ipam = ipam.setting("routes", to: .array(routes))
        config = config.setting("ipam", to: ipam)

        self.type = type
        document = config.goMapOrdered
    }

    /// A config saved at ADD, read back for DEL or CHECK; `path` names it in errors.
    public init(saved bytes: [UInt8], path: String) throws(CNIError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw CNIError(.decodeFailure, "the saved delegate config \(path) is not JSON: \(error)")
        }
        guard let type = value.member("type")?.string, CNIDelegateConfig.isPluginName(type) else {
            throw CNIError(.decodeFailure, "the saved delegate config \(path) has no plugin name in type")
        }
        self.type = type
        document = value
    }

    /// A plugin's executable name: it is looked up in CNI_PATH, so it must not reach outside.
    static func isPluginName(_ text: String) -> Bool {
        !text.isEmpty && !text.contains("/") && text != "." && text != ".."
    }

    private init(type: String, document: JSONValue) {
        self.type = type
        self.document = document.goMapOrdered
    }

    /// CHECK's config: the saved one with the runtime's `prevResult` (which the delegate checks the
    /// container against) and the version that result is written in.
    public func forCheck(_ network: CNINetworkConfig) throws(CNIError) -> CNIDelegateConfig {
        guard let prevResult = network.prevResult else {
            throw CNIError(.invalidNetworkConfig, "prevResult is required for CHECK: the result of the ADD being "
                + "checked", cniVersion: network.cniVersion)
        }
        var config = document.setting("prevResult", to: prevResult)
        if let version = network.cniVersion { config = config.setting("cniVersion", to: .string(version)) }
        return CNIDelegateConfig(type: type, document: config)
    }
}
