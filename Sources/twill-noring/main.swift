// twill-noring: runs a command (or its own self-test) with io_uring forbidden by a seccomp filter,
// the way Docker's and containerd's default profiles forbid it, to show the syscall engine fallback.
import CSeccomp
import Glibc
import TwillIO
import TwillWire

let usage = """
    usage: twill-noring COMMAND [ARG...]   run COMMAND with io_uring_setup/enter/register answering EPERM
           twill-noring --self-test [N]    pick an engine with io_uring denied and move N datagrams over loopback
    """

var args = Array(CommandLine.arguments.dropFirst())
guard let first = args.first else {
    FileHandleless.write(usage + "\n", to: 2)
    exit(2)
}

let rc = twill_deny_io_uring()
guard rc == 0 else {
    FileHandleless.write("twill-noring: installing the seccomp filter failed (\(rc))\n", to: 2)
    exit(1)
}

if first == "--self-test" {
    let count = args.count > 1 ? Int(args[1]) ?? 100 : 100
    do {
        let choice = try IOEngineSelector.choose(.auto)
        print("engine=\(choice.kind) reason=\(choice.reason)")
        let socket = try UDPSocket(bind: .v4(IPv4Address(127, 0, 0, 1)), port: 0)
        let pool = try PacketPool(slotSize: 2048, count: 512)
        var mover = LoopbackMover(count: count, destination: socket.localAddress)
        try choice.open(PacketIOConfiguration(udpFD: socket.fd, batchSize: 64), pool: pool, user: &mover)
        print("moved=\(mover.received) of \(count)")
        fflush(nil)
        exit(mover.received == count ? 0 : 1)
    } catch {
        print("self-test failed: \(error)")
        exit(1)
    }
}

// Exec the command with the filter in place (it is inherited across execve).
let cargs = args.map { strdup($0) } + [nil]
execvp(first, cargs)
FileHandleless.write("twill-noring: cannot run \(first): \(String(cString: strerror(errno)))\n", to: 2)
exit(127)

/// Sends `count` datagrams to itself through the engine and counts what comes back intact.
struct LoopbackMover: PacketIOUser {
    let count: Int
    let destination: SocketAddress
    var received = 0

    mutating func run<IO: PacketIO & ~Copyable>(_ io: inout IO) {
        var out = PacketBatch(capacity: 64, pool: io.pool)
        var sent = 0
        var rounds = 0
        while received < count && rounds < 500 {
            rounds += 1
            while sent < count && !out.isFull && out.appendFromPool(offset: 0, length: 64) {
                let p = out.packet(out.count - 1)
                for j in 0..<64 { p[j] = UInt8(truncatingIfNeeded: sent &+ j) }
                out.setAddress(out.count - 1, destination)
                sent += 1
            }
            _ = try? io.sendUDP(out)
            out.removeAll()
            var inBatch = PacketBatch(capacity: 64, pool: out.pool)
            _ = try? io.receiveUDP(into: &inBatch, timeoutMilliseconds: 20)
            for i in 0..<inBatch.count where inBatch.length(i) == 64 {
                let p = inBatch.packet(i)
                if (1..<64).allSatisfy({ p[$0] == p[0] &+ UInt8($0) }) { received += 1 }
            }
        }
    }
}

enum FileHandleless {
    static func write(_ s: String, to fd: Int32) {
        var s = s
        s.withUTF8 { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
