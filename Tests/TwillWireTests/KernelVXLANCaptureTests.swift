#if os(Linux)
import Foundation
import Glibc
import Testing
@testable import TwillWire

/// Frames built by the Linux kernel's own VXLAN device, programmed the way flannel's vxlan backend
/// programs it, must decode to exactly the packet that was sent through it. Everything lives in two
/// throw-away network namespaces on the documentation range 192.0.2.0/24; the root namespace is
/// never changed.
@Suite("Kernel VXLAN capture", .serialized, .enabled(if: geteuid() == 0, "needs root for network namespaces"))
struct KernelVXLANCaptureTests {
    static let vni: UInt32 = 42
    static let peerVTEPMAC = "0e:3c:5a:00:02:00"
    static let innerSource = IPv4Address(10, 244, 1, 0)
    static let innerDestination = IPv4Address(10, 244, 2, 5)
    static let innerSourcePort: UInt16 = 40000
    static let innerDestinationPort: UInt16 = 9999
    static let payload = Array("twill kernel vxlan capture".utf8)

    @Test("a UDP datagram through kernel VXLAN decodes to exactly what was sent", .timeLimit(.minutes(1)))
    func kernelFrameDecodes() throws {
        let pid = getpid()
        let nsA = "twt-\(pid)-a"
        let nsB = "twt-\(pid)-b"
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("twt-\(pid)-vxlan.pcap").path
        // Deleting the namespaces deletes every device in them; runs even when a step below throws.
        defer {
            _ = try? Shell.run(["ip", "netns", "del", nsA])
            _ = try? Shell.run(["ip", "netns", "del", nsB])
            try? FileManager.default.removeItem(atPath: pcap)
        }
        try Shell.check(["ip", "netns", "add", nsA])
        try Shell.check(["ip", "netns", "add", nsB])
        for ns in [nsA, nsB] { try Shell.check(["ip", "-n", ns, "link", "set", "lo", "up"]) }
        try Shell.check(["ip", "-n", nsA, "link", "add", "vethA", "type", "veth", "peer", "name", "vethB", "netns", nsB])
        try Shell.check(["ip", "-n", nsA, "addr", "add", "192.0.2.1/24", "dev", "vethA"])
        try Shell.check(["ip", "-n", nsB, "addr", "add", "192.0.2.2/24", "dev", "vethB"])
        try Shell.check(["ip", "-n", nsA, "link", "set", "vethA", "up"])
        try Shell.check(["ip", "-n", nsB, "link", "set", "vethB", "up"])
        // flannel's vxlan backend: the device, its /32 address, then per remote subnet a permanent
        // neighbour (gateway -> VTEP MAC), an fdb entry (VTEP MAC -> underlay IP) and an onlink route.
        try Shell.check(["ip", "-n", nsA, "link", "add", "vxtest", "type", "vxlan", "id", "\(Self.vni)", "dstport", "8472",
                         "local", "192.0.2.1", "dev", "vethA", "nolearning"])
        try Shell.check(["ip", "-n", nsA, "addr", "add", "10.244.1.0/32", "dev", "vxtest"])
        try Shell.check(["ip", "-n", nsA, "link", "set", "vxtest", "up"])
        try Shell.check(["ip", "-n", nsA, "neigh", "add", "10.244.2.0", "lladdr", Self.peerVTEPMAC, "dev", "vxtest",
                         "nud", "permanent"])
        try Shell.check(["ip", "netns", "exec", nsA, "bridge", "fdb", "add", Self.peerVTEPMAC, "dev", "vxtest",
                         "dst", "192.0.2.2", "self", "permanent"])
        try Shell.check(["ip", "-n", nsA, "route", "add", "10.244.2.0/24", "via", "10.244.2.0", "dev", "vxtest", "onlink"])
        let linkText = try Shell.check(["ip", "-n", nsA, "link", "show", "vxtest"])
        let vtepMAC = try #require(Self.etherAddress(in: linkText), "no MAC in: \(linkText)")

        // Capture one VXLAN datagram on B's end of the underlay.
        let capture = try Shell.start(["ip", "netns", "exec", nsB, "dumpcap", "-q", "-P", "-i", "vethB",
                                       "-f", "udp port 8472", "-c", "1", "-w", pcap])
        defer { if capture.isRunning { capture.terminate() } }

        // The sender's socket is made inside namespace A, so its source address and port are ours to pick.
        let fd = try NetworkNamespace.udpSocket(in: nsA)
        defer { close(fd) }
        try Self.bind(fd, Self.innerSource, Self.innerSourcePort)
        // dumpcap gives no sign of being ready: send until it has its one packet, within a bound.
        let deadline = Date().addingTimeInterval(15)
        while capture.isRunning && Date() < deadline {
            try Self.send(fd, Self.payload, to: Self.innerDestination, port: Self.innerDestinationPort)
            usleep(200_000)
        }
        #expect(!capture.isRunning, "dumpcap captured nothing within 15 s")
        if capture.isRunning {
            capture.terminate()
            return
        }
        #expect(capture.terminationStatus == 0)

        let frames = try PcapFile.frames(atPath: pcap)
        let frame = try #require(frames.first)
        var bytes = frame
        try bytes.withUnsafeMutableBytes { raw in
            let eth = try EthernetFrame(raw)
            #expect(eth.etherType == EtherType.ipv4)
            let outer = try UnderlayDatagram(parsing: eth.payload)
            #expect(outer.source == .v4(IPv4Address(192, 0, 2, 1)))
            #expect(outer.destination == .v4(IPv4Address(192, 0, 2, 2)))
            #expect(outer.destinationPort == 8472)
            #expect(outer.sourcePort != 0)
            let udpPayload = UnsafeMutableRawBufferPointer(
                rebasing: eth.payload[outer.payloadOffset..<(outer.payloadOffset + outer.payloadLength)])
            let localMAC = try #require(MACAddress(Self.peerVTEPMAC))
            let d = try Decapsulator(format: .vxlan, vni: Self.vni, localMAC: localMAC).decapsulate(udpPayload)
            #expect(d.offset == 22)
            // The kernel wrote our VTEP's MAC as the inner source.
            let innerEth = try EthernetFrame(UnsafeMutableRawBufferPointer(rebasing: udpPayload[8...]))
            #expect(innerEth.source == vtepMAC)
            #expect(innerEth.destination == localMAC)

            let inner = UnsafeMutableRawBufferPointer(rebasing: udpPayload[d.offset..<(d.offset + d.length)])
            let ip = try IPv4Packet(inner)
            #expect(ip.source == Self.innerSource)
            #expect(ip.destination == Self.innerDestination)
            #expect(ip.proto == IPProtocol.udp)
            #expect(ip.headerLength == 20)
            #expect(ip.totalLength == 20 + 8 + Self.payload.count)
            #expect(ip.headerChecksumIsValid)
            #expect(!ip.isFragment)
            let udp = try UDPDatagram(ip.payload)
            #expect(udp.sourcePort == Self.innerSourcePort)
            #expect(udp.destinationPort == Self.innerDestinationPort)
            #expect(udp.length == 8 + Self.payload.count)
            // The inner UDP checksum may still be a partial (offloaded) one on this path: not compared.
            #expect(Array(udp.payload) == Self.payload)
            #expect(d.info == IPPacketInfo(version: 4, source: .v4(Self.innerSource),
                                           destination: .v4(Self.innerDestination), length: ip.totalLength,
                                           proto: IPProtocol.udp, sourcePort: Self.innerSourcePort,
                                           destinationPort: Self.innerDestinationPort))
        }
    }

    static func etherAddress(in text: String) -> MACAddress? {
        guard let r = text.range(of: "link/ether ") else { return nil }
        return MACAddress(text[r.upperBound...].prefix(17))
    }

    static func socketAddress(_ a: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = a.value.bigEndian
        return sa
    }

    static func bind(_ fd: Int32, _ a: IPv4Address, _ port: UInt16) throws {
        var sa = socketAddress(a, port)
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else { throw ShellError("bind: errno \(errno)") }
    }

    static func send(_ fd: Int32, _ data: [UInt8], to a: IPv4Address, port: UInt16) throws {
        var sa = socketAddress(a, port)
        let n = data.withUnsafeBytes { d in
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, d.baseAddress, d.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard n == data.count else { throw ShellError("sendto: errno \(errno)") }
    }
}

struct ShellError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs the few commands the capture test needs, each with a time bound.
enum Shell {
    static func start(_ args: [String], output: FileHandle? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        // ip, bridge and dumpcap live in sbin, which a CI environment's PATH may lack.
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (env["PATH"].map { $0 + ":" } ?? "") + "/usr/sbin:/usr/bin:/sbin:/bin"
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = output ?? FileHandle.nullDevice
        p.standardError = output ?? FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs a command to its end (killed after `timeout` seconds); returns its status and output.
    @discardableResult
    static func run(_ args: [String], timeout: TimeInterval = 10) throws -> (status: Int32, output: String) {
        // A file, not a pipe: a chatty command can then never block on a full pipe.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("twt-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out").path
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw ShellError("cannot create \(path)") }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? out.close() }
        let p = try start(args, output: out)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            p.terminate()
            throw ShellError("timed out after \(timeout) s: \(args.joined(separator: " "))")
        }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return (p.terminationStatus, text)
    }

    /// Runs a command that must succeed.
    @discardableResult
    static func check(_ args: [String]) throws -> String {
        let r = try run(args)
        guard r.status == 0 else { throw ShellError("\(args.joined(separator: " ")) exited \(r.status): \(r.output)") }
        return r.output
    }
}

enum NetworkNamespace {
    /// CLONE_NEWNET from <sched.h>.
    static let cloneNewNet: Int32 = 0x4000_0000

    /// glibc's setns(2). Its declaration needs _GNU_SOURCE, which the Glibc module is not built with,
    /// so it is looked up by name.
    static func setns(_ fd: Int32, _ type: Int32) -> Int32 {
        typealias SetNS = @convention(c) (Int32, Int32) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "setns") else { return -1 }
        return unsafeBitCast(sym, to: SetNS.self)(fd, type)
    }

    /// A UDP socket that lives in the named namespace. Only this thread switches, and it switches
    /// back before returning, with no suspension point in between.
    static func udpSocket(in name: String) throws -> Int32 {
        let target = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        defer {
            if target >= 0 { close(target) }
            if home >= 0 { close(home) }
        }
        guard target >= 0, home >= 0 else { throw ShellError("open namespace: errno \(errno)") }
        guard setns(target, cloneNewNet) == 0 else { throw ShellError("setns: errno \(errno)") }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let err = errno
        // A pool thread left in the test namespace would break unrelated tests: stop rather than go on.
        precondition(setns(home, cloneNewNet) == 0, "could not return to the original network namespace")
        guard fd >= 0 else { throw ShellError("socket: errno \(err)") }
        return fd
    }
}

/// Reads the classic libpcap format that `dumpcap -P` writes.
enum PcapFile {
    static func frames(atPath path: String) throws -> [[UInt8]] {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard data.count >= 24 else { throw ShellError("pcap too short: \(data.count) bytes") }
        func u32(_ i: Int, _ little: Bool) -> UInt32 {
            let b = data[i..<(i + 4)].map(UInt32.init)
            return little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
        }
        let little: Bool
        switch u32(0, true) {
        case 0xa1b2_c3d4, 0xa1b2_3c4d: little = true
        default:
            guard [0xa1b2_c3d4, 0xa1b2_3c4d].contains(u32(0, false)) else { throw ShellError("not a pcap file") }
            little = false
        }
        guard u32(20, little) & 0x0fff_ffff == 1 else { throw ShellError("link type is not Ethernet") }
        var frames: [[UInt8]] = []
        var i = 24
        while i + 16 <= data.count {
            let length = Int(u32(i + 8, little))
            i += 16
            guard i + length <= data.count else { throw ShellError("pcap record past the end") }
            frames.append(Array(data[i..<(i + length)]))
            i += length
        }
        return frames
    }
}
#endif
