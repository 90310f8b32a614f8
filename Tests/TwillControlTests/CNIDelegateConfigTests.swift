import Testing
import TwillControl

/// The delegate config is compared as bytes: it is what the bridge plugin reads and what DEL reads back.
@Suite struct CNIDelegateConfigTests {
    /// flannel's README example: FLANNEL_IPMASQ=true, so the bridge must not masquerade. The route's gateway
    /// is Twill's addition (see CNIDelegateConfig).
    let flannelExample = SubnetFile(network: subnet("10.1.0.0/16"), subnet: subnet("10.1.17.0/24"), mtu: 1472, ipMasq: true)
    let twillFile = SubnetFile(network: subnet("10.244.0.0/16"), subnet: subnet("10.244.7.0/24"), mtu: 1450, ipMasq: false)

    func delegate(_ json: String, _ file: SubnetFile) throws -> String {
        let network = try CNINetworkConfig(json: Array(json.utf8))
        return String(decoding: CNIDelegateConfig(network: network, subnetFile: file).bytes, as: UTF8.self)
    }

    @Test func flannelsReadmeExampleWithKeysSortedAsGoWritesThem() throws {
        #expect(try delegate(#"{"name":"mynet","type":"flannel"}"#, flannelExample)
            == #"{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16","gw":"10.1.17.1"}],"#
            + #""type":"host-local"},"isGateway":true,"mtu":1472,"name":"mynet","type":"bridge"}"#)
    }

    @Test func defaultsFollowTheSubnetFile() throws {
        let config = CNIDelegateConfig(network: try CNINetworkConfig(json: Array(#"{"name":"pods","cniVersion":"0.4.0"}"#.utf8)),
                                       subnetFile: twillFile)
        #expect(config.type == "bridge")
        // twilld does not masquerade (FLANNEL_IPMASQ=false), so the bridge does.
        #expect(String(decoding: config.bytes, as: UTF8.self)
            == #"{"cniVersion":"0.4.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.7.0/24"}]],"#
            + #""routes":[{"dst":"10.244.0.0/16","gw":"10.244.7.1"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"pods","#
            + #""type":"bridge"}"#)
    }

    @Test func delegateKeysWinExceptNameIpamAndVersion() throws {
        let json = #"""
            {"cniVersion":"1.0.0","name":"pods","type":"twill-cni",
             "delegate":{"bridge":"mynet0","mtu":1400,"ipMasq":false,"isGateway":false,"hairpinMode":true,
                         "cniVersion":"0.3.1"},
             "ipam":{"dataDir":"/tmp/ipam","routes":[{"dst":"0.0.0.0/0"}]}}
            """#
        #expect(try delegate(json, twillFile)
            == #"{"bridge":"mynet0","cniVersion":"1.0.0","hairpinMode":true,"ipMasq":false,"#
            + #""ipam":{"dataDir":"/tmp/ipam","ranges":[[{"subnet":"10.244.7.0/24"}]],"#
            + #""routes":[{"dst":"0.0.0.0/0"},{"dst":"10.244.0.0/16","gw":"10.244.7.1"}],"type":"host-local"},"#
            + #""isGateway":false,"mtu":1400,"name":"pods","type":"bridge"}"#)
    }

    @Test func ipamTypeAndRangesFromTheConfig() throws {
        // A given ipam type stays; given ranges are replaced by the host's subnet, as flannel does. The
        // Network's route names no gateway: only host-local is known to make the bridge's address one.
        let json = #"{"name":"n","ipam":{"type":"static","ranges":[[{"subnet":"192.168.0.0/24"}]]}}"#
        #expect(try delegate(json, twillFile)
            == #"{"ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.7.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"#
            + #""type":"static"},"isGateway":true,"mtu":1450,"name":"n","type":"bridge"}"#)
    }

    @Test func otherDelegateTypesGetNoIsGateway() throws {
        let config = CNIDelegateConfig(
            network: try CNINetworkConfig(json: Array(#"{"name":"n","delegate":{"type":"ipvlan","master":"eth0"}}"#.utf8)),
            subnetFile: twillFile)
        #expect(config.type == "ipvlan")
        #expect(String(decoding: config.bytes, as: UTF8.self)
            == #"{"ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.7.0/24"}]],"#
            + #""routes":[{"dst":"10.244.0.0/16","gw":"10.244.7.1"}],"type":"host-local"},"master":"eth0","mtu":1450,"#
            + #""name":"n","type":"ipvlan"}"#)
    }

    @Test func runtimeConfigIsHandedOn() throws {
        let json = #"{"name":"n","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80}]}}"#
        #expect(try delegate(json, twillFile).contains(#""runtimeConfig":{"portMappings":[{"containerPort":80,"hostPort":8080}]}"#))
    }

    @Test func delegateKeysAreExactAndTheLastRepeatWins() throws {
        // Go's map keeps "MTU" apart from "mtu", and the last of a repeated key.
        let out = try delegate(#"{"name":"n","delegate":{"MTU":1,"bridge":"a","bridge":"b"}}"#, twillFile)
        #expect(out.contains(#""MTU":1,"bridge":"b","#))
        #expect(out.contains(#""mtu":1450"#))
        #expect(!out.contains(#""bridge":"a""#))
    }

    @Test func numbersKeepTheirLiteral() throws {
        #expect(try delegate(#"{"name":"n","delegate":{"big":18446744073709551617,"f":1.50}}"#, twillFile)
            .hasPrefix(#"{"big":18446744073709551617,"f":1.50,"#))
    }

    // MARK: read back for DEL and CHECK

    @Test func savedConfigReadsBackUnchanged() throws {
        let config = CNIDelegateConfig(network: try CNINetworkConfig(json: Array(#"{"name":"n"}"#.utf8)), subnetFile: twillFile)
        let saved = try CNIDelegateConfig(saved: config.bytes, path: "/d/c1")
        #expect(saved == config)
        #expect(saved.type == "bridge")
        // flannel's plugin writes the same bytes, so its saved files read as well.
        #expect(try CNIDelegateConfig(saved: Array(#"{"type":"macvlan","name":"x"}"#.utf8), path: "/d/c2").type == "macvlan")
    }

    @Test(arguments: [
        ("nope", "is not JSON"),
        (#"{"name":"n"}"#, "has no plugin name in type"),
        (#"{"type":"../../bin/sh"}"#, "has no plugin name in type"),
        (#"{"type":7}"#, "has no plugin name in type"),
    ])
    func badSavedConfigsAreRefusedByPath(text: String, reason: String) {
        let error = #expect(throws: CNIError.self) { try CNIDelegateConfig(saved: Array(text.utf8), path: "/data/c1") }
        #expect(error?.code == .decodeFailure)
        #expect(error?.message.hasPrefix("the saved delegate config /data/c1 \(reason)") == true)
    }

    @Test func checkAddsThePreviousResultInTheRequestsVersion() throws {
        let added = CNIDelegateConfig(network: try CNINetworkConfig(json: Array(#"{"name":"n","cniVersion":"0.4.0"}"#.utf8)),
                                      subnetFile: twillFile)
        let request = try CNINetworkConfig(json: Array(#"""
            {"name":"n","cniVersion":"1.0.0","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.244.7.2/24"}]}}
            """#.utf8))
        let text = String(decoding: try added.forCheck(request).bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"cniVersion":"1.0.0","#))
        #expect(text.contains(#""prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.244.7.2/24"}]},"type":"bridge"}"#))
    }

    @Test func checkWithoutPreviousResultIsRefused() throws {
        let added = CNIDelegateConfig(network: try CNINetworkConfig(json: Array(#"{"name":"n"}"#.utf8)), subnetFile: twillFile)
        let error = #expect(throws: CNIError.self) {
            try added.forCheck(try CNINetworkConfig(json: Array(#"{"name":"n","cniVersion":"1.0.0"}"#.utf8)))
        }
        #expect(error?.code == .invalidNetworkConfig)
        #expect(error?.message.hasPrefix("prevResult is required for CHECK") == true)
        #expect(error?.cniVersion == "1.0.0")
    }
}
