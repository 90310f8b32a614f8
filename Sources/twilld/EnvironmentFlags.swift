/// flanneld reads every flag from FLANNELD_<NAME> too; a flag given on the command line wins.
enum EnvironmentFlags {
    static func merge(arguments: [String], environment: [String: String]) -> [String] {
        var result = arguments
        let given = Set(arguments.compactMap { arg -> String? in
            guard arg.hasPrefix("--") else { return nil }
            return String(arg.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? "")
        })
        for name in TwilldCommand.optionNames where !given.contains(name) {
            let key = "FLANNELD_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            guard let value = environment[key] else { continue }
            if TwilldCommand.flagNames.contains(name) {
                if ["1", "true", "yes"].contains(value.lowercased()) { result.append("--\(name)") }
            } else {
                result.append("--\(name)=\(value)")
            }
        }
        return result
    }
}
