import TwillWire

/// The CNI plugin's network config (stdin), with the fields of flannel's CNI plugin: `subnetFile`,
/// `dataDir`, `delegate`, `ipam`, `runtimeConfig`. Top-level names match case-insensitively and `null`
/// counts as absent, as Go's decoder fills flannel's struct; the sections meant for the delegate are
/// kept as written.
public struct CNINetworkConfig: Sendable {
    public static let defaultSubnetFile = SubnetFile.defaultPath
    public static let defaultDataDir = "/var/lib/cni/flannel"

    public let name: String
    /// nil when the config names none (the delegate then gets none either, as with flannel).
    public let cniVersion: String?
    public let subnetFile: String
    public let dataDir: String
    /// Members for the delegate's config (an object; empty when absent).
    let delegate: JSONValue
    /// The base of the delegate's `ipam` section (an object; empty when absent).
    let ipam: JSONValue
    let runtimeConfig: JSONValue?
    /// The runtime's previous result, which CHECK hands on.
    let prevResult: JSONValue?

    public init(json: [UInt8]) throws(CNIError) {
        let document: JSONValue
        do {
            document = try JSONParser.parse(json)
        } catch {
            throw CNIError(.decodeFailure, "the network config on stdin is not JSON: \(error)")
        }
        guard case .object = document else {
            throw CNIError(.decodeFailure, "the network config on stdin must be a JSON object "
                + "(got \(document.kindDescription))")
        }
        // Read first, so every later error answers in the config's own version.
        let version = try CNINetworkConfig.string(document, "cniVersion", version: nil)
        if let version, !CNIVersion.isSupported(version) {
            throw CNIError(.incompatibleVersion, "cniVersion \"\(version)\" is not supported; this plugin speaks "
                + CNIVersion.supported.joined(separator: ", "))
        }
        cniVersion = version
        func string(_ key: String) throws(CNIError) -> String? {
            try CNINetworkConfig.string(document, key, version: version)
        }
        func object(_ key: String) throws(CNIError) -> JSONValue? {
            guard let value = document[key], !value.isNull else { return nil }
            guard case .object = value else {
                throw CNIError(.invalidNetworkConfig, "\(key) must be an object (got \(value.kindDescription))",
                               cniVersion: version)
            }
            return value
        }
        guard let name = try string("name"), !name.isEmpty else {
            throw CNIError(.invalidNetworkConfig, "name is required: the network's name, which the delegate gets too",
                           cniVersion: version)
        }
        self.name = name
        subnetFile = try CNINetworkConfig.path(string("subnetFile"), "subnetFile", CNINetworkConfig.defaultSubnetFile,
                                               version: version)
        dataDir = try CNINetworkConfig.path(string("dataDir"), "dataDir", CNINetworkConfig.defaultDataDir,
                                            version: version)
        delegate = try object("delegate") ?? .object([])
        ipam = try object("ipam") ?? .object([])
        runtimeConfig = try object("runtimeConfig")
        prevResult = try object("prevResult")
        try checkDelegate(version: version)
        try checkRoutes(version: version)
    }

    /// flannel's rules: the delegate names its plugin with a string, and leaves `name` and `ipam` to
    /// the plugin. The type is a file name looked up in CNI_PATH, so it may not hold a path.
    private func checkDelegate(version: String?) throws(CNIError) {
        if let type = delegate.member("type") {
            guard let text = type.string, CNIDelegateConfig.isPluginName(text) else {
                throw CNIError(.invalidNetworkConfig, "delegate.type must be a plugin name such as \"bridge\", "
                    + "without '/' (got \(type.string.map { "\"\($0)\"" } ?? type.kindDescription))", cniVersion: version)
            }
        }
        for key in ["name", "ipam"] where delegate.member(key) != nil {
            throw CNIError(.invalidNetworkConfig, "delegate.\(key) must not be set: the plugin sets it (use the "
                + (key == "name" ? "network's name" : "top-level ipam section") + ")", cniVersion: version)
        }
    }

    /// `ipam.routes` must be routes (objects with a `dst` CIDR) since the Network's route is added to them.
    private func checkRoutes(version: String?) throws(CNIError) {
        guard let routes = ipam.member("routes"), !routes.isNull else { return }
        guard case .array(let items) = routes else {
            throw CNIError(.invalidNetworkConfig, "ipam.routes must be an array of routes such as "
                + "[{\"dst\":\"0.0.0.0/0\"}] (got \(routes.kindDescription))", cniVersion: version)
        }
        for (i, route) in items.enumerated() where route.member("dst")?.string.map(CNINetworkConfig.isCIDR) != true {
            throw CNIError(.invalidNetworkConfig, "ipam.routes[\(i)] must be an object whose dst is a CIDR such as "
                + "\"0.0.0.0/0\" (got \(route.serialized()))", cniVersion: version)
        }
    }

    /// An IPv4 or IPv6 network in CIDR notation (host bits allowed, as Go's ParseCIDR allows them).
    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let length = Int(parts[1]) else { return false }
        switch IPAddress(parts[0]) {
        case .v4: return length <= 32
        case .v6: return length <= 128
        case nil: return false
        }
    }

    private static func string(_ doc: JSONValue, _ key: String, version: String?) throws(CNIError) -> String? {
        guard let value = doc[key], !value.isNull else { return nil }
        guard let text = value.string else {
            throw CNIError(.invalidNetworkConfig, "\(key) must be a string (got \(value.kindDescription))",
                           cniVersion: version)
        }
        return text
    }

    /// flannel's default when absent or empty.
    private static func path(_ value: String?, _ key: String, _ fallback: String,
                             version: String?) throws(CNIError) -> String {
        guard let value, !value.isEmpty else { return fallback }
        guard !value.utf8.contains(0) else {
            throw CNIError(.invalidNetworkConfig, "\(key) must be a file system path (got a NUL byte)", cniVersion: version)
        }
        return value
    }
}
