import TwillWire

/// Keeps the VXLAN VTEP's MAC address across restarts. flannel makes a new random MAC on every start,
/// which leaves peers with stale neighbour and FDB entries until they notice (#533, #1330, #1795).
public enum VTEPMACFile {
    public static func loadOrCreate(path: String) throws(ControlFileError) -> MACAddress {
        var generator = SystemRandomNumberGenerator()
        return try loadOrCreate(path: path, using: &generator)
    }

    /// Reads the MAC stored at `path`; when there is none, stores a new random locally administered
    /// one. Creation never overwrites, so two daemons starting at once agree on the winner's MAC.
    public static func loadOrCreate<G: RandomNumberGenerator>(path: String,
                                                               using generator: inout G) throws(ControlFileError)
        -> MACAddress {
        if let existing = try load(path) { return existing }
        let fresh = MACAddress.randomLocal(using: &generator)
        if try AtomicFile.create(path, with: Array("\(fresh)\n".utf8)) { return fresh }
        guard let winner = try load(path) else {
            throw ControlFileError(path: path, operation: "read", reason: "the file vanished while it was created")
        }
        return winner
    }

    private static func load(_ path: String) throws(ControlFileError) -> MACAddress? {
        guard let bytes = try AtomicFile.contents(of: path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        // Refusing (rather than replacing) a bad file keeps the operator in control of the identity.
        guard let mac = MACAddress(text), !mac.isMulticast, mac.value != 0 else {
            throw ControlFileError(path: path, operation: "read", reason: "it does not hold a unicast MAC address "
                + "such as c6:d2:32:6f:8f:44; fix it, or delete it to get a new random one")
        }
        return mac
    }
}
