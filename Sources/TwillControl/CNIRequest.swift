/// The operations a CNI plugin answers (the CNI_COMMAND variable).
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD"
    case del = "DEL"
    case check = "CHECK"
    case version = "VERSION"
}

/// The CNI_* environment of one plugin call, checked as the spec defines each variable. The container
/// ID names a file in the plugin's data directory, so its rule also keeps paths out of it.
public struct CNIRequest: Sendable, Equatable {
    public let command: CNICommand
    public let containerID: String
    /// The container's network namespace (a path); DEL may come without one when it is already gone.
    public let netns: String
    public let ifName: String
    /// Where delegate plugins are looked for, in order.
    public let pluginPath: [String]

    public init(environment: [String: String]) throws(CNIError) {
        let commandNames = CNICommand.allCases.map(\.rawValue).joined(separator: ", ")
        guard let commandText = environment["CNI_COMMAND"], !commandText.isEmpty else {
            throw CNIError(.invalidEnvironment, "CNI_COMMAND is not set; it must be one of \(commandNames)")
        }
        guard let command = CNICommand(rawValue: commandText) else {
            throw CNIError(.invalidEnvironment, "CNI_COMMAND must be one of \(commandNames) (got \"\(commandText)\")")
        }
        self.command = command
        guard command != .version else {
            containerID = ""
            netns = ""
            ifName = ""
            pluginPath = []
            return
        }
        func required(_ name: String) throws(CNIError) -> String {
            guard let value = environment[name], !value.isEmpty else {
                throw CNIError(.invalidEnvironment, "\(name) is required for \(commandText) but is not set")
            }
            return value
        }
        containerID = try required("CNI_CONTAINERID")
        try CNIRequest.checkContainerID(containerID)
        ifName = try required("CNI_IFNAME")
        try CNIRequest.checkInterfaceName(ifName)
        netns = command == .del ? environment["CNI_NETNS"] ?? "" : try required("CNI_NETNS")
        pluginPath = try required("CNI_PATH").split(separator: ":").map(String.init)
    }

    /// The spec: a letter or digit first, then letters, digits, '_', '.' or '-'.
    static func checkContainerID(_ id: String) throws(CNIError) {
        let bytes = Array(id.utf8)
        let valid = bytes.first.map(isAlphanumeric) == true
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
        guard valid else {
            throw CNIError(.invalidEnvironment, "CNI_CONTAINERID must start with a letter or digit and contain only "
                + "letters, digits, '_', '.' and '-' (got \"\(id)\")")
        }
    }

    /// The spec (Linux's rules): at most 15 bytes, not "." or "..", no '/', ':' or whitespace.
    static func checkInterfaceName(_ name: String) throws(CNIError) {
        let forbidden: Set<UInt8> = [UInt8(ascii: "/"), UInt8(ascii: ":"), 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
        let bytes = Array(name.utf8)
        guard bytes.count <= 15, name != ".", name != "..", !bytes.contains(where: forbidden.contains) else {
            throw CNIError(.invalidEnvironment, "CNI_IFNAME must be at most 15 bytes, not \".\" or \"..\", and "
                + "without '/', ':' or whitespace (got \"\(name)\")")
        }
    }

    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }
}
