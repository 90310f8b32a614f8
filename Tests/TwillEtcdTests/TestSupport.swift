import Dispatch
import Foundation
import TwillTestSupport
import Glibc
import Logging
import Synchronization
import TwillControl
@testable import TwillEtcd
import TwillWire

/// Whether the etcd tests can run: they start real etcd servers (Debian: etcd-server, etcd-client).
let etcdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl")

/// A child process started with posix_spawn in a process group of its own, so that killing the
/// group also kills what it started. Foundation's Process is avoided: its waitUntilExit spins a CPU
/// on Linux, which starves parallel tests on a two-core machine.
struct ChildProcess: Sendable {
    let pid: pid_t

    /// stdout and stderr go to `outputFD`, or to /dev/null.
    static func spawn(_ executable: String, _ arguments: [String], outputFD: Int32? = nil,
                      environment: [String: String]? = nil) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let outputFD {
            posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
            posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment ?? [:] { merged[key] = value }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0)=\($1)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(rc)))") }
        return ChildProcess(pid: pid)
    }

    var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// SIGKILL to the whole group, then reap.
    func killAndWait() {
        Glibc.kill(-pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// Runs a program to completion on a thread outside Swift's cooperative pool (it blocks) and
/// returns its exit status and combined output.
func run(_ executable: String, _ arguments: [String],
         environment: [String: String]? = nil) async -> (status: Int32, output: String) {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else {
                continuation.resume(returning: (127, "pipe failed"))
                return
            }
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(executable, arguments, outputFD: fds[1], environment: environment)
            } catch {
                close(fds[0])
                close(fds[1])
                continuation.resume(returning: (127, "\(error)"))
                return
            }
            close(fds[1])
            var output: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fds[0], &buffer, buffer.count)
                if n > 0 { output += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
            }
            close(fds[0])
            var status: Int32 = 0
            while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
            let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            continuation.resume(returning: (exitCode, String(decoding: output, as: UTF8.self)))
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A port nothing listens on right now (bound, read, released). Another process could take it in
/// between; cluster start retries with fresh ports when etcd cannot bind.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
            bind(fd, sockaddr, length) == 0 && getsockname(fd, sockaddr, &length) == 0
        }
    }
    return bound ? Int(UInt16(bigEndian: address.sin_port)) : 0
}

/// Certificates made with openssl for one test: a CA, a server certificate for 127.0.0.1 signed by
/// it, a client certificate, and an unrelated CA for the refused case.
struct TestCertificates {
    let dir: String
    var caFile: String { dir + "/ca.crt" }
    var otherCAFile: String { dir + "/other-ca.crt" }
    var serverCert: String { dir + "/server.crt" }
    var serverKey: String { dir + "/server.key" }
    var clientCert: String { dir + "/client.crt" }
    var clientKey: String { dir + "/client.key" }

    init(in dir: String) async throws {
        self.dir = dir
        let script = """
            set -e
            cd '\(dir)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            key ca.key; key other-ca.key; key server.key; key client.key
            openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj /CN=twill-test-ca
            openssl req -x509 -new -key other-ca.key -out other-ca.crt -days 2 -subj /CN=twill-other-ca
            printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > server.ext
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl req -new -key server.key -out server.csr -subj /CN=etcd
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
                -extfile server.ext 2>/dev/null
            openssl req -new -key client.key -out client.csr -subj /CN=root
            openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 \
                -extfile client.ext 2>/dev/null
            """
        let result = await run("/bin/bash", ["-c", script])
        guard result.status == 0 else { throw TestFailure("openssl failed: \(result.output)") }
    }
}

/// Real etcd members on loopback, each in a directory under /dev/shm (fsync is cheap there). Start
/// with `EtcdTestCluster.with`; members are killed and their directories removed afterwards, also
/// when the test fails.
final class EtcdTestCluster: Sendable {
    struct Member: Sendable {
        let name: String
        let clientURL: String
        let peerURL: String
        let arguments: [String]
        let process: ChildProcess
    }

    let dir: String
    let tls: TestCertificates?
    private let current: Mutex<[Member]>

    private init(dir: String, members: [Member], tls: TestCertificates?) {
        self.dir = dir
        self.tls = tls
        current = Mutex(members)
    }

    var members: [Member] { current.withLock { $0 } }

    var endpoints: [String] { members.map(\.clientURL) }

    /// Clusters alive at once: starting twenty etcd members together loads both cores for seconds,
    /// which upsets the timing-sensitive tests of other suites running in the same process.
    static let slots = TestSemaphore(3)

    /// Starts `size` members (with TLS on the client URLs when `tls`), runs `body`, and tears down.
    static func with(size: Int = 1, tls: Bool = false, extraArguments: [String] = [],
                     _ body: (EtcdTestCluster) async throws -> Void) async throws {
        await slots.wait()
        do {
            try await withoutSlot(size: size, tls: tls, extraArguments: extraArguments, body)
        } catch {
            await slots.signal()
            throw error
        }
        await slots.signal()
    }

    private static func withoutSlot(size: Int, tls: Bool, extraArguments: [String],
                                    _ body: (EtcdTestCluster) async throws -> Void) async throws {
        let dir = "/dev/shm/twill-etcd-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let certificates = tls ? try await TestCertificates(in: dir) : nil
        var cluster: EtcdTestCluster?
        var lastError: (any Error)?
        // A port taken between freePort() and etcd's bind fails the start: try again with new ports.
        for attempt in 1...3 {
            let candidate = try start(size: size, dir: dir + "/try\(attempt)", tls: certificates,
                                      extraArguments: extraArguments)
            do {
                try await candidate.waitUntilHealthy()
                cluster = candidate
                break
            } catch {
                candidate.killAll()
                lastError = error
            }
        }
        guard let cluster else { throw lastError ?? TestFailure("etcd did not start") }
        do {
            try await body(cluster)
        } catch {
            cluster.killAll()
            throw error
        }
        cluster.killAll()
    }

    private static func start(size: Int, dir: String, tls: TestCertificates?,
                              extraArguments: [String]) throws -> EtcdTestCluster {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let scheme = tls == nil ? "http" : "https"
        let ports = (0..<size).map { _ in (freePort(), freePort()) }
        let names = (0..<size).map { "m\($0)" }
        let initial = zip(names, ports).map { "\($0)=http://127.0.0.1:\($1.1)" }.joined(separator: ",")
        let token = UUID().uuidString
        var members: [Member] = []
        for (index, name) in names.enumerated() {
            let clientURL = "\(scheme)://127.0.0.1:\(ports[index].0)"
            let peerURL = "http://127.0.0.1:\(ports[index].1)"
            var arguments = [
                "--name", name, "--data-dir", "\(dir)/\(name).etcd",
                "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--initial-cluster", initial, "--initial-cluster-token", token,
                "--logger", "zap", "--log-outputs", "\(dir)/\(name).log", "--log-level", "warn",
            ] + extraArguments
            if let tls {
                arguments += ["--cert-file", tls.serverCert, "--key-file", tls.serverKey,
                              "--trusted-ca-file", tls.caFile, "--client-cert-auth"]
            }
            members.append(Member(name: name, clientURL: clientURL, peerURL: peerURL, arguments: arguments,
                                  process: try launch(arguments + ["--initial-cluster-state", "new"])))
        }
        return EtcdTestCluster(dir: dir, members: members, tls: tls)
    }

    private static func launch(_ arguments: [String]) throws -> ChildProcess {
        // timeout bounds how long a member outlives a test process that crashed; it and etcd share a
        // process group, which kill() takes down together.
        try ChildProcess.spawn("/usr/bin/timeout", ["-s", "KILL", "300", "/usr/bin/etcd"] + arguments)
    }

    /// etcdctl against this cluster (with the test's certificates when TLS is on).
    @discardableResult
    func etcdctl(_ arguments: [String], endpoints: [String]? = nil) async throws -> String {
        var all = ["--endpoints", (endpoints ?? self.endpoints).joined(separator: ","), "--dial-timeout", "3s",
                   "--command-timeout", "5s"]
        if let tls {
            all += ["--cacert", tls.caFile, "--cert", tls.clientCert, "--key", tls.clientKey]
        }
        let result = await run("/usr/bin/etcdctl", all + arguments, environment: ["ETCDCTL_API": "3"])
        guard result.status == 0 else {
            throw TestFailure("etcdctl \(arguments.joined(separator: " ")) failed: \(result.output)")
        }
        return result.output
    }

    /// Polls health until the cluster has a leader and serves (bounded: 20 s), failing early if a
    /// member exited.
    func waitUntilHealthy(endpoints: [String]? = nil) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let watched = endpoints ?? self.endpoints
            if let dead = members.first(where: { !$0.process.isRunning && watched.contains($0.clientURL) }) {
                throw TestFailure("etcd member \(dead.name) exited: \(log(of: dead))")
            }
            // A connect is cheap; etcdctl (a Go program) is run only once every port accepts.
            if watched.allSatisfy(EtcdTestCluster.accepts),
               (try? await etcdctl(["endpoint", "health"], endpoints: endpoints)) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("etcd did not become healthy within 20 s")
    }

    /// Whether something accepts TCP connections at the URL's port on 127.0.0.1.
    static func accepts(_ url: String) -> Bool {
        guard let port = url.split(separator: ":").last.flatMap({ UInt16($0) }) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    func log(of member: Member) -> String {
        let text = try? String(contentsOfFile: "\(dir)/\(member.name).log", encoding: .utf8)
        return text.map { String($0.suffix(2000)) } ?? ""
    }

    /// The member that leads now.
    func leader() async throws -> Member {
        struct Status: Decodable {
            struct Inner: Decodable {
                struct Header: Decodable { var member_id: UInt64 }
                var header: Header
                var leader: UInt64
            }
            var Endpoint: String
            var Status: Inner
        }
        let output = try await etcdctl(["endpoint", "status", "-w", "json"])
        let statuses = try JSONDecoder().decode([Status].self, from: Data(output.utf8))
        guard let leaderID = statuses.first?.Status.leader,
              let url = statuses.first(where: { $0.Status.header.member_id == leaderID })?.Endpoint,
              let member = members.first(where: { $0.clientURL == url }) else {
            throw TestFailure("no leader in: \(output)")
        }
        return member
    }

    /// SIGKILL, as a crashed machine would go.
    func kill(_ member: Member) { member.process.killAndWait() }

    /// Starts a killed member again on its data directory and ports.
    func restart(_ member: Member) throws {
        let process = try EtcdTestCluster.launch(member.arguments + ["--initial-cluster-state", "existing"])
        current.withLock { members in
            guard let index = members.firstIndex(where: { $0.name == member.name }) else { return }
            members[index] = Member(name: member.name, clientURL: member.clientURL, peerURL: member.peerURL,
                                    arguments: member.arguments,
                                    process: process)
        }
    }

    func killAll() {
        for member in members { member.process.killAndWait() }
    }

    func putConfig(_ json: String, prefix: String = "/coreos.com/network") async throws {
        try await etcdctl(["put", prefix + "/config", json])
    }

    /// A store on this cluster; the caller shuts it down (withStores does).
    func store(prefix: String = "/coreos.com/network", logger: Logger = quietLogger,
               requestTimeout: Duration = .seconds(3), endpoints: [String]? = nil, username: String? = nil,
               password: String? = nil, tls tlsFiles: EtcdTLS? = nil,
               beforeCreate: (@Sendable (IPv4Subnet) async -> Void)? = nil) throws -> EtcdLeaseStore {
        let files = tlsFiles ?? tls.map { EtcdTLS(caFile: $0.caFile, certFile: $0.clientCert, keyFile: $0.clientKey) }
        return try EtcdLeaseStore(endpoints: endpoints ?? self.endpoints, prefix: prefix, tls: files,
                                  username: username, password: password, logger: logger,
                                  requestTimeout: requestTimeout, beforeCreate: beforeCreate)
    }
}

/// Runs `body` with `stores` and shuts every one down afterwards, also when `body` throws (an
/// HTTPClient that is not shut down traps in debug builds).
@discardableResult
func withStores<T>(_ stores: [EtcdLeaseStore], _ body: ([EtcdLeaseStore]) async throws -> T) async throws -> T {
    do {
        let result = try await body(stores)
        for store in stores { try await store.shutdown() }
        return result
    } catch {
        for store in stores { try? await store.shutdown() }
        throw error
    }
}

@discardableResult
func withStore<T>(_ store: EtcdLeaseStore, _ body: (EtcdLeaseStore) async throws -> T) async throws -> T {
    try await withStores([store]) { try await body($0[0]) }
}

/// Keeps test output quiet when the log is not under test.
let quietLogger = Logger(label: "twill.etcd.test") { _ in SwiftLogNoOpLogHandler() }

/// Collects log lines so tests can assert on them.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let lines = Mutex<[Line]>([])

    var logger: Logger {
        Logger(label: "twill.etcd.test") { _ in Handler(capture: self) }
    }

    var all: [Line] { lines.withLock { $0 } }

    func count(containing text: String) -> Int { all.filter { $0.message.contains(text) }.count }

    fileprivate func append(_ line: Line) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged: [String: String] = [:]
            for (key, value) in metadata { merged[key] = "\(value)" }
            for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
            capture.append(Line(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}


/// Waits until `condition` holds, polling; false when `timeout` passes first.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

func ip(_ text: String) -> IPv4Address { IPv4Address(text)! }

func subnet(_ text: String) -> IPv4Subnet { IPv4Subnet(text)! }

func mac(_ text: String) -> MACAddress { MACAddress(text)! }

func vxlan(_ publicIP: String, mac macText: String = "c6:d2:32:6f:8f:44") -> LeaseAttributes {
    .vxlan(publicIP: ip(publicIP), vni: 1, vtepMAC: mac(macText))
}

let network16 = #"{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}"#

/// Where the built executables are (`make test` sets TWILL_BIN_DIR).
func binaryPath(_ name: String) -> String {
    if let dir = ProcessInfo.processInfo.environment["TWILL_BIN_DIR"] { return dir + "/" + name }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/\(name)").path
}

/// A counting semaphore for async code.
actor TestSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { available = count }

    func wait() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func signal() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
