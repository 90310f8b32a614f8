import Testing
import TwillControl

/// flannel's CNI plugin gives host-local one range set per family and routes both networks.
@Suite struct CNIDelegateConfigDualStackTests {
    let dual = SubnetFile(network: subnet("10.244.0.0/16"), subnet: subnet("10.244.7.0/24"), mtu: 1450, ipMasq: false,
                          ipv6Network: subnet6("fc00::/48"), ipv6Subnet: subnet6("fc00:0:0:7::/64"))

    func delegate(_ json: String, _ file: SubnetFile) throws -> String {
        let network = try CNINetworkConfig(json: Array(json.utf8))
        return String(decoding: CNIDelegateConfig(network: network, subnetFile: file).bytes, as: UTF8.self)
    }

    @Test func hostLocalGetsBothRangeSetsAndBothRoutes() throws {
        #expect(try delegate(#"{"name":"pods","cniVersion":"1.0.0"}"#, dual)
            == #"{"cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.7.0/24"}],[{"subnet":"fc00:0:0:7::/64"}]],"#
            + #""routes":[{"dst":"10.244.0.0/16","gw":"10.244.7.1"},{"dst":"fc00::/48","gw":"fc00:0:0:7::1"}],"#
            + #""type":"host-local"},"isGateway":true,"mtu":1450,"name":"pods","type":"bridge"}"#)
    }

    @Test func otherIPAMGetsRoutesWithoutGateways() throws {
        let json = #"{"name":"n","ipam":{"type":"static","routes":[{"dst":"0.0.0.0/0"}]}}"#
        #expect(try delegate(json, dual).contains(
            #""ipam":{"ranges":[[{"subnet":"10.244.7.0/24"}],[{"subnet":"fc00:0:0:7::/64"}]],"#
            + #""routes":[{"dst":"0.0.0.0/0"},{"dst":"10.244.0.0/16"},{"dst":"fc00::/48"}],"type":"static"}"#))
    }

    @Test func eachIPv6LineAddsItsOwnPart() throws {
        var subnetOnly = dual
        subnetOnly.ipv6Network = nil
        #expect(try delegate(#"{"name":"n"}"#, subnetOnly).contains(
            #""ranges":[[{"subnet":"10.244.7.0/24"}],[{"subnet":"fc00:0:0:7::/64"}]],"routes":[{"dst":"10.244.0.0/16","gw":"10.244.7.1"}]"#))
        var single = dual
        single.ipv6Network = nil
        single.ipv6Subnet = nil
        #expect(try delegate(#"{"name":"n"}"#, single).contains(
            #""ranges":[[{"subnet":"10.244.7.0/24"}]],"routes":[{"dst":"10.244.0.0/16","gw":"10.244.7.1"}]"#))
    }
}
