import Foundation

/// Builds one datapath between two namespaced hosts (pods on each for the overlays) and tears it
/// down. Client and server namespaces and the server address are what the workloads use.
struct Topology {
    let shell: Shell
    let prefix: String
    let work: String
    let twilld: String
    let datapath: Datapath

    var clientNamespace: String { datapath == .veth ? "\(prefix)-h1" : "\(prefix)-h1-p1" }
    var serverNamespace: String { datapath == .veth ? "\(prefix)-h2" : "\(prefix)-h2-p1" }
    private(set) var serverAddress = ""
    private(set) var daemonPIDs: [Int32] = []

    init(shell: Shell, prefix: String, work: String, twilld: String, datapath: Datapath) {
        self.shell = shell
        self.prefix = prefix
        self.work = work
        self.twilld = twilld
        self.datapath = datapath
    }

    mutating func build() throws {
        destroy()
        let dir = "\(work)/\(datapath.rawValue)"
        try check(shell.run("rm -rf '\(dir)'; mkdir -p '\(dir)' && topo_create \(prefix) 2"), "underlay")
        if datapath.isIPv6 {
            try check(shell.run("topo_add_host_ipv6 \(prefix) 1 && topo_add_host_ipv6 \(prefix) 2"), "IPv6 underlay")
        }
        switch datapath {
        case .veth:
            serverAddress = "192.0.2.12"
        case .kernelVXLAN:
            // Exactly what flanneld's vxlan backend programs: flannel.1, learning off, the lease's network
            // address as /32, and per peer a permanent neighbour, an FDB entry and an onlink route.
            var script = ""
            for i in 1...2 {
                let h = "\(prefix)-h\(i)"
                script += """
                    ip -n \(h) link add flannel.1 type vxlan id 1 dstport 8472 local 192.0.2.1\(i) dev eth0 nolearning
                    ip -n \(h) link set flannel.1 address 02:00:00:00:00:0\(i) mtu 1450 up
                    ip -n \(h) addr add 10.244.\(i).0/32 dev flannel.1
                    printf 'FLANNEL_NETWORK=10.244.0.0/16\\nFLANNEL_SUBNET=10.244.\(i).1/24\\nFLANNEL_MTU=1450\\nFLANNEL_IPMASQ=false\\n' > '\(dir)/h\(i).env'
                    topo_add_pods \(prefix) \(i) '\(dir)/h\(i).env' 1

                    """
                let j = 3 - i
                script += """
                    ip -n \(h) neigh add 10.244.\(j).0 lladdr 02:00:00:00:00:0\(j) dev flannel.1 nud permanent
                    ip netns exec \(h) bridge fdb append 02:00:00:00:00:0\(j) dev flannel.1 dst 192.0.2.1\(j)
                    ip -n \(h) route add 10.244.\(j).0/24 via 10.244.\(j).0 dev flannel.1 onlink

                    """
            }
            try check(shell.run("set -e\n" + script), "kernel vxlan")
            serverAddress = "10.244.2.2"
        case .kernelVXLANIPv6:
            // flanneld's dual-stack vxlan backend: flannel-v6.1 over the IPv6 underlay (MTU - 70), the
            // IPv6 lease's network address as /128, and per peer the same three entries over IPv6.
            var script = ""
            for i in 1...2 {
                let h = "\(prefix)-h\(i)"
                script += """
                    ip -n \(h) link add flannel-v6.1 type vxlan id 1 dstport 8472 local 2001:db8::1\(i) dev eth0 nolearning
                    ip -n \(h) link set flannel-v6.1 address 02:00:00:00:06:0\(i) mtu 1430 up
                    ip -n \(h) addr add fd00:244:0:\(i)::/128 dev flannel-v6.1 nodad
                    printf 'FLANNEL_NETWORK=10.244.0.0/16\\nFLANNEL_SUBNET=10.244.\(i).1/24\\nFLANNEL_IPV6_NETWORK=fd00:244::/48\\nFLANNEL_IPV6_SUBNET=fd00:244:0:\(i)::1/64\\nFLANNEL_MTU=1430\\nFLANNEL_IPMASQ=false\\n' > '\(dir)/h\(i).env'
                    topo_add_pods \(prefix) \(i) '\(dir)/h\(i).env' 1

                    """
                let j = 3 - i
                script += """
                    ip -n \(h) -6 neigh add fd00:244:0:\(j):: lladdr 02:00:00:00:06:0\(j) dev flannel-v6.1 nud permanent
                    ip netns exec \(h) bridge fdb append 02:00:00:00:06:0\(j) dev flannel-v6.1 dst 2001:db8::1\(j)
                    ip -n \(h) -6 route add fd00:244:0:\(j)::/64 via fd00:244:0:\(j):: dev flannel-v6.1 onlink

                    """
            }
            try check(shell.run("set -e\n" + script), "kernel vxlan over IPv6")
            serverAddress = "fd00:244:0:2::2"
        default:
            let (format, engine, batch, offloads) = datapath.twilldArguments!
            let ipv6 = datapath.isIPv6 ? ",\"EnableIPv6\":true,\"IPv6Network\":\"fd00:244::/48\"" : ""
            try check(shell.run("printf '{\"Network\":\"10.244.0.0/16\"\(ipv6),\"Backend\":{\"Type\":\"\(format)\"}}' > '\(dir)/net.json'"), "config")
            for i in 1...2 {
                shell.start("ip netns exec \(prefix)-h\(i) '\(twilld)' --local-store '\(dir)/leases.json' --net-config-path '\(dir)/net.json' --subnet-file '\(dir)/h\(i).env' --vtep-mac-file '\(dir)/mac\(i)' --io-engine \(engine) --batch-size \(batch) --offloads \(offloads) --stats-file '\(dir)/stats\(i)'",
                            log: "\(dir)/twilld\(i).log")
            }
            for i in 1...2 {
                let r = shell.run("topo_wait_file '\(dir)/h\(i).env' 20 && topo_add_pods \(prefix) \(i) '\(dir)/h\(i).env' 1")
                if !r.ok {
                    let log = (try? String(contentsOfFile: "\(dir)/twilld\(i).log", encoding: .utf8)) ?? ""
                    throw HarnessError.setup("twilld on host \(i) did not come up: \(r.output)\n\(log)")
                }
            }
            serverAddress = shell.run("topo_pod_ip\(datapath.isIPv6 ? "6" : "") \(prefix) 2 1").output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            daemonPIDs = shell.run("ip netns pids \(prefix)-h1; ip netns pids \(prefix)-h2").output
                .split(separator: "\n").compactMap { Int32($0) }
            // Let each daemon's watch pick up the other's lease.
            for _ in 0..<50 {
                if shell.run("ip netns exec \(clientNamespace) ping -c1 -W1 \(serverAddress)", timeout: 5).ok { break }
            }
        }
        // Not `iperf3 -D`: its daemon start signals our process group.
        shell.start("ip netns exec \(serverNamespace) iperf3 -s", log: "\(work)/iperf3-server.log")
        // Wait until the path answers, bounded.
        var up = false
        for _ in 0..<30 where !up {
            up = shell.run("ip netns exec \(clientNamespace) ping -c1 -W1 \(serverAddress)", timeout: 5).ok
        }
        guard up else { throw HarnessError.setup("\(datapath.rawValue): \(serverAddress) unreachable") }
    }

    func destroy() {
        shell.run("topo_destroy \(prefix)", timeout: 60)
    }

    private func check(_ r: Shell.Result, _ what: String) throws {
        if !r.ok { throw HarnessError.setup("\(datapath.rawValue) \(what): \(r.output)") }
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case setup(String)
    case workload(String)
    var description: String {
        switch self {
        case .setup(let s): "setup failed: \(s)"
        case .workload(let s): "workload failed: \(s)"
        }
    }
}
