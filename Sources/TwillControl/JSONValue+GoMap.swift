/// Objects read the way Go decodes JSON into `map[string]interface{}` (flannel's CNI plugin holds the
/// delegate and ipam sections so): keys match exactly, and the last of a repeated key wins.
extension JSONValue {
    /// The member named exactly `key` (the last when repeated), unlike the struct-field `subscript`.
    func member(_ key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    /// The object with `key` set to `value`: replaced in place when present (repeats collapse into
    /// it), appended otherwise.
    func setting(_ key: String, to value: JSONValue) -> JSONValue {
        guard case .object(let members) = self else { return self }
        guard let first = members.firstIndex(where: { $0.key == key }) else { return .object(members + [(key, value)]) }
        var result = members.enumerated().filter { $0.offset == first || $0.element.key != key }.map(\.element)
        result[first].value = value
        return .object(result)
    }

    /// The value as Go's `json.Marshal` writes such a map: repeated keys collapsed to the last, every
    /// object's keys sorted by their bytes, at any depth.
    var goMapOrdered: JSONValue {
        switch self {
        case .array(let items):
            return .array(items.map(\.goMapOrdered))
        case .object(let members):
            var last: [String: JSONValue] = [:]
            for member in members { last[member.key] = member.value.goMapOrdered }
            let keys = last.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            return .object(keys.compactMap { key in last[key].map { (key, $0) } })
        default:
            return self
        }
    }
}
