// A complete program on the Twill library: forwards every packet between a TUN device and one UDP
// peer, in flannel's udp format (the UDP payload is the IP packet). Run it on two hosts pointing at
// each other: `tun-to-udp 10.9.1.1/24 192.0.2.12:8285` and `tun-to-udp 10.9.1.2/24 192.0.2.11:8285`.
import Glibc
import TwillIO
import TwillWire

let args = CommandLine.arguments
guard args.count == 3, let local = IPv4Subnet(args[1], strict: false),
      let colon = args[2].lastIndex(of: ":"), let peerIP = IPv4Address(args[2][..<colon]),
      let port = UInt16(args[2][args[2].index(after: colon)...]) else {
    print("usage: tun-to-udp ADDRESS/PREFIX PEER_IP:PORT")
    exit(2)
}

// The device: a TUN with our address; its subnet is routed through it.
let tun = try TunDevice(name: "tun-to-udp")
let netlink = try Netlink()
try netlink.setLink(tun.name, up: true, mtu: 1472)
try netlink.addAddress(IPv4Address(local.address.value | 0), prefixLength: local.prefixLength, to: tun.name)
let socket = try UDPSocket(bind: .v4(IPv4Address(0)), port: port)
let peer = SocketAddress(.v4(peerIP), port: port)

/// One loop per direction, each over the engine the library picked (io_uring, or syscalls).
struct Pump: PacketIOUser {
    let peer: SocketAddress
    let towardPeer: Bool

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var batch = PacketBatch(capacity: 64, pool: io.pool)
        while true {
            batch.removeAll()
            if towardPeer {
                guard (try? io.readTun(into: &batch, timeoutMilliseconds: 1000)) ?? 0 > 0 else { continue }
                for i in 0..<batch.count { batch.setAddress(i, peer) }
                _ = try? io.sendUDP(batch)
            } else {
                guard (try? io.receiveUDP(into: &batch, timeoutMilliseconds: 1000)) ?? 0 > 0 else { continue }
                // Only well-formed IP packets from the peer go into the TUN.
                for i in 0..<batch.count where batch.address(i) != peer || (try? IPPacketInfo(parsing: batch.packet(i))) == nil {
                    batch.drop(i)
                }
                _ = try? io.writeTun(batch)
            }
        }
    }
}

let engine = try IOEngineSelector.choose(.auto)
print("forwarding \(tun.name) <-> \(peer) with the \(engine.kind) engine (\(engine.reason))")
let io = PacketIOConfiguration(tunFD: tun.queues[0], udpFD: socket.fd)
let threads = [true, false].map { towardPeer in
    DatapathThread(name: towardPeer ? "egress" : "ingress") {
        do {
            let pool = try PacketPool(slotSize: 2048, count: 512)
            var pump = Pump(peer: peer, towardPeer: towardPeer)
            try engine.open(io, pool: pool, user: &pump)
        } catch {
            print("datapath failed: \(error)")
        }
    }
}
threads.forEach { $0.join() }
