import Testing
import TwillControl

@Suite struct CNINetworkConfigTests {
    func parse(_ json: String) throws(CNIError) -> CNINetworkConfig { try CNINetworkConfig(json: Array(json.utf8)) }

    @Test func flannelsDefaults() throws {
        let config = try parse(#"{"name":"cbr0","type":"flannel"}"#)
        #expect(config.name == "cbr0")
        #expect(config.cniVersion == nil)
        #expect(config.subnetFile == "/run/flannel/subnet.env")
        #expect(config.dataDir == "/var/lib/cni/flannel")
    }

    @Test func fieldsAsGoDecodesThem() throws {
        // Struct fields match case-insensitively; null and "" leave the defaults.
        let config = try parse(#"{"NAME":"n","cniversion":"0.3.1","SubnetFile":"/run/t.env","dataDir":null}"#)
        #expect(config.name == "n")
        #expect(config.cniVersion == "0.3.1")
        #expect(config.subnetFile == "/run/t.env")
        #expect(config.dataDir == "/var/lib/cni/flannel")
        #expect(try parse(#"{"name":"n","subnetFile":"","delegate":null}"#).subnetFile == "/run/flannel/subnet.env")
    }

    @Test(arguments: [
        ("{", CNIError.Code.decodeFailure, "the network config on stdin is not JSON: "),
        ("", .decodeFailure, "the network config on stdin is not JSON: the document is empty"),
        ("[1]", .decodeFailure, "the network config on stdin must be a JSON object (got an array)"),
        (#"{"name":"n","cniVersion":"9.9.9"}"#, .incompatibleVersion, #"cniVersion "9.9.9" is not supported"#),
        (#"{"name":"n","cniVersion":1}"#, .invalidNetworkConfig, "cniVersion must be a string (got a number)"),
        (#"{"type":"flannel"}"#, .invalidNetworkConfig, "name is required"),
        (#"{"name":""}"#, .invalidNetworkConfig, "name is required"),
        (#"{"name":"n","subnetFile":5}"#, .invalidNetworkConfig, "subnetFile must be a string (got a number)"),
        (#"{"name":"n","dataDir":"/a\u0000b"}"#, .invalidNetworkConfig, "dataDir must be a file system path"),
        (#"{"name":"n","delegate":"bridge"}"#, .invalidNetworkConfig, "delegate must be an object (got a string)"),
        (#"{"name":"n","ipam":[]}"#, .invalidNetworkConfig, "ipam must be an object (got an array)"),
        (#"{"name":"n","delegate":{"type":true}}"#, .invalidNetworkConfig, "delegate.type must be a plugin name such as \"bridge\", without '/' (got a boolean)"),
        (#"{"name":"n","delegate":{"type":"../sbin/x"}}"#, .invalidNetworkConfig, "delegate.type must be a plugin name"),
        (#"{"name":"n","delegate":{"type":""}}"#, .invalidNetworkConfig, "delegate.type must be a plugin name"),
        (#"{"name":"n","delegate":{"name":"x"}}"#, .invalidNetworkConfig, "delegate.name must not be set"),
        (#"{"name":"n","delegate":{"ipam":{}}}"#, .invalidNetworkConfig, "delegate.ipam must not be set"),
        (#"{"name":"n","ipam":{"routes":{}}}"#, .invalidNetworkConfig, "ipam.routes must be an array of routes"),
        (#"{"name":"n","ipam":{"routes":[{"dst":"10.0.0.0/8"},{"gw":"10.0.0.1"}]}}"#, .invalidNetworkConfig,
         "ipam.routes[1] must be an object whose dst is a CIDR"),
        (#"{"name":"n","ipam":{"routes":[{"dst":"10.0.0.0/33"}]}}"#, .invalidNetworkConfig, "ipam.routes[0] must be"),
        (#"{"name":"n","runtimeConfig":1}"#, .invalidNetworkConfig, "runtimeConfig must be an object (got a number)"),
        (#"{"name":"n","prevResult":"x"}"#, .invalidNetworkConfig, "prevResult must be an object (got a string)"),
    ])
    func badConfigsNameTheFieldAndTheRule(json: String, code: CNIError.Code, message: String) {
        let error = #expect(throws: CNIError.self) { try parse(json) }
        #expect(error?.code == code)
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func errorsAfterTheVersionAnswerInIt() {
        let error = #expect(throws: CNIError.self) { try parse(#"{"cniVersion":"0.3.1","delegate":{"name":"x"}}"#) }
        #expect(error?.cniVersion == "0.3.1")
        #expect(error?.json.contains(#""cniVersion": "0.3.1""#) == true)
    }

    @Test func ipv6AndIPv4RoutesAreAccepted() throws {
        _ = try parse(#"{"name":"n","ipam":{"routes":[{"dst":"0.0.0.0/0"},{"dst":"fd00::/8","gw":"fd00::1"}]}}"#)
    }
}
