import Testing
import TwillControl

@Suite struct CNIRequestTests {
    let add = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": "/var/run/netns/pod",
               "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin:/usr/lib/cni"]

    func request(_ changes: [String: String?]) throws(CNIError) -> CNIRequest {
        var environment = add
        for (key, value) in changes { environment[key] = value }
        return try CNIRequest(environment: environment)
    }

    func refusal(_ changes: [String: String?]) -> CNIError? {
        #expect(throws: CNIError.self) { try request(changes) }
    }

    @Test func addReadsEveryVariable() throws {
        let r = try request([:])
        #expect(r.command == .add)
        #expect(r.containerID == "c0ffee")
        #expect(r.netns == "/var/run/netns/pod")
        #expect(r.ifName == "eth0")
        #expect(r.pluginPath == ["/opt/cni/bin", "/usr/lib/cni"])
    }

    @Test func versionNeedsNothingElse() throws {
        #expect(try CNIRequest(environment: ["CNI_COMMAND": "VERSION"]).command == .version)
    }

    @Test func delMayComeWithoutANamespace() throws {
        let r = try request(["CNI_COMMAND": "DEL", "CNI_NETNS": nil])
        #expect(r.command == .del)
        #expect(r.netns == "")
        let check = refusal(["CNI_COMMAND": "CHECK", "CNI_NETNS": nil])
        #expect(check?.message == "CNI_NETNS is required for CHECK but is not set")
    }

    @Test(arguments: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH", "CNI_NETNS"])
    func missingVariablesAreNamed(name: String) {
        let error = refusal([name: nil])
        #expect(error?.code == .invalidEnvironment)
        #expect(error?.message == "\(name) is required for ADD but is not set")
        #expect(refusal([name: ""])?.message == "\(name) is required for ADD but is not set")
    }

    @Test func commandMustBeKnown() {
        #expect(refusal(["CNI_COMMAND": nil])?.message == "CNI_COMMAND is not set; it must be one of ADD, DEL, CHECK, VERSION")
        let error = refusal(["CNI_COMMAND": "GC"])
        #expect(error?.code == .invalidEnvironment)
        #expect(error?.message == #"CNI_COMMAND must be one of ADD, DEL, CHECK, VERSION (got "GC")"#)
        #expect(refusal(["CNI_COMMAND": "add"]) != nil)
    }

    @Test(arguments: ["abc", "0", "a_b.c-d", "K8S_POD_1234abcd"])
    func containerIDsTheSpecAllows(id: String) throws {
        #expect(try request(["CNI_CONTAINERID": id]).containerID == id)
    }

    /// The ID names a file in the data directory: nothing may lead out of it.
    @Test(arguments: ["../etc/passwd", "a/b", ".hidden", "-x", "_x", "a b", "é", "a\u{0}b"])
    func containerIDsTheSpecRefuses(id: String) {
        let error = refusal(["CNI_CONTAINERID": id])
        #expect(error?.code == .invalidEnvironment)
        #expect(error?.message.hasPrefix("CNI_CONTAINERID must start with a letter or digit") == true)
    }

    @Test(arguments: ["eth0", "a", "net1.100", "abcdefghijklmno"])
    func interfaceNamesTheSpecAllows(name: String) throws {
        #expect(try request(["CNI_IFNAME": name]).ifName == name)
    }

    @Test(arguments: ["abcdefghijklmnop", ".", "..", "a/b", "a:b", "a b", "a\tb"])
    func interfaceNamesTheSpecRefuses(name: String) {
        let error = refusal(["CNI_IFNAME": name])
        #expect(error?.code == .invalidEnvironment)
        #expect(error?.message.hasPrefix("CNI_IFNAME must be at most 15 bytes") == true)
    }
}
