import Foundation
import Testing
import TestSupport

/// Hosts for multi-host tests: one network namespace per host, each with a veth whose other end sits on a bridge in
/// a switch namespace. Every address lives inside namespaces this object creates; the machine's own namespace gets
/// nothing. Names resolve through `/etc/netns/NS/hosts` (all hosts of one name listed: a round-robin name).
///
/// Cleanup is guaranteed twice: `tearDown()` at the end of the test, and a watchdog shell started first that kills
/// every process in the namespaces and deletes them (and their hosts files) once the test process is gone, however
/// it ends.
final class TestNetwork: Sendable {
    /// A service listener's settings on `address` in a namespace: its keystore from the test PKI, JSON logs.
    static func listenerEnvironment(pki: TestPKI, service: String, address: String, port: Int, management: Int) -> [String: String] {
        [
            "SERVER_ADDRESS": address, "SERVER_PORT": String(port), "MANAGEMENT_SERVER_PORT": String(management),
            "SERVER_SSL_KEY_STORE": pki.path("\(service).p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"), "LOG_FORMAT": "json",
        ]
    }

    struct Host: Sendable {
        var namespace: String
        var name: String
        var address: String
    }

    let prefix: String
    let hosts: [Host]
    private let switchNamespace: String

    /// Whether namespaces can be made here (root, iproute2, curl).
    static let available: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { return false }
        let probe = "certauth-probe-\(getpid())"
        guard (try? TestNetwork.ip(["netns", "add", probe])) != nil else { return false }
        _ = try? TestNetwork.ip(["netns", "del", probe])
        return true
    }()

    init(hosts: [Host]) throws {
        prefix = "ca\(getpid())"
        switchNamespace = "\(prefix)-sw"
        self.hosts = hosts
        try startWatchdog()
        do {
            try Self.ip(["netns", "add", switchNamespace])
            try Self.ip(["-n", switchNamespace, "link", "add", "br0", "type", "bridge"])
            try Self.ip(["-n", switchNamespace, "link", "set", "br0", "up"])
            var names: [String: [String]] = ["localhost": ["127.0.0.1"]]
            for host in hosts { names[host.name, default: []].append(host.address) }
            let hostsFile = names.sorted { $0.key < $1.key }.flatMap { name, addresses in addresses.map { "\($0) \(name)" } }
                .joined(separator: "\n") + "\n"
            for (index, host) in hosts.enumerated() {
                let namespace = self.namespace(host.namespace)
                try Self.ip(["netns", "add", namespace])
                try Self.ip(["-n", switchNamespace, "link", "add", "v\(index)", "type", "veth", "peer", "name", "eth0", "netns", namespace])
                try Self.ip(["-n", switchNamespace, "link", "set", "v\(index)", "master", "br0", "up"])
                try Self.ip(["-n", namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
                try Self.ip(["-n", namespace, "link", "set", "eth0", "up"])
                try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
                try FileManager.default.createDirectory(atPath: "/etc/netns/\(namespace)", withIntermediateDirectories: true)
                try Data(hostsFile.utf8).write(to: URL(fileURLWithPath: "/etc/netns/\(namespace)/hosts"))
            }
        } catch {
            tearDown()
            throw error
        }
    }

    func namespace(_ short: String) -> String { "\(prefix)-\(short)" }

    private var cleanupScript: String {
        """
        for ns in $(ip netns list | awk '{print $1}' | grep "^\(prefix)-"); do
          for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        done
        sleep 0.3
        for ns in $(ip netns list | awk '{print $1}' | grep "^\(prefix)-"); do
          ip netns del "$ns" 2>/dev/null; rm -rf "/etc/netns/$ns"
        done
        """
    }

    private func startWatchdog() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "while [ -d /proc/\(getpid()) ]; do sleep 1; done\n" + cleanupScript]
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Kills every process in the namespaces, deletes them and their hosts files.
    func tearDown() {
        _ = try? Self.command("/bin/sh", ["-c", cleanupScript])
        print("[multi-host] cleanup: every namespace, veth, bridge and hosts file of \(prefix)-* removed")
    }

    /// Starts `binary` (from the build) in host `short`'s namespace; returns its pid (`ip netns exec` execs it).
    @discardableResult
    func start(_ short: String, _ binary: String, log: String, environment: [String: String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace(short), "\(ProcessTests.binDir)/\(binary)"]
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()].merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process.processIdentifier
    }

    /// Runs a command in host `short`'s namespace and returns its standard output.
    func run(_ short: String, _ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        try Self.command("/usr/sbin/ip", ["netns", "exec", namespace(short), executable] + arguments, environment: environment)
    }

    /// Waits until `pid` has exited, all its threads included: a killed thread-group leader shows as a zombie while
    /// its other threads are still dying, and until the last one exits the process's sockets stay open (its listening
    /// socket still completes TCP handshakes, then resets them).
    func waitForExit(_ pid: Int32, seconds: Int) throws {
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while Date() < deadline {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count ?? 0
            if stat.isEmpty || (stat.contains(") Z ") && threads <= 1) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw CommandError("process \(pid) did not exit within \(seconds) s")
    }

    /// A real PostgreSQL server on `address:5432` inside host `short`, data under `directory`; returns the URL
    /// (host name `postgres`) of an empty database `certauth`.
    func startPostgres(namespace short: String, address: String, directory: String) async throws -> String {
        let (bin, password, asServerUser) = try PostgresTestServer.initializeCluster(directory: directory)
        let fileManager = FileManager.default
        let hba = try String(contentsOfFile: directory + "/data/pg_hba.conf", encoding: .utf8)
        try Data((hba + "\nhost all all 10.77.0.0/24 scram-sha-256\n").utf8).write(to: URL(fileURLWithPath: directory + "/data/pg_hba.conf"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        let server = asServerUser("\(bin)/postgres", [
            "-D", directory + "/data", "-p", "5432", "-k", directory, "-c", "listen_addresses=\(address)",
            "-c", "fsync=off", "-c", "max_connections=100",
        ])
        process.arguments = ["netns", "exec", namespace(short), server.0] + server.1
        process.environment = ["PATH": "/usr/bin:/bin", "LANG": "C"]
        let log = directory + "/server.log"
        _ = fileManager.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        var ready = false
        for _ in 0..<150 {
            if (try? run(short, "\(bin)/pg_isready", ["-q", "-h", address, "-p", "5432"])) != nil { ready = true; break }
            try await Task.sleep(for: .milliseconds(200))
        }
        guard ready else {
            throw CommandError("PostgreSQL did not start in namespace \(short): \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500))")
        }
        _ = try run(short, "\(bin)/createdb", ["-h", address, "-p", "5432", "-U", "certauth", "certauth"], environment: ["PGPASSWORD": password])
        return "postgres://certauth:\(password)@postgres:5432/certauth?sslmode=disable"
    }

    @discardableResult
    static func ip(_ arguments: [String]) throws -> String {
        try command("/usr/sbin/ip", arguments)
    }

    /// Runs a command to completion; throws with its output when it fails.
    @discardableResult
    static func command(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"].merging(environment) { $1 }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandError("\((executable as NSString).lastPathComponent) \(arguments.prefix(4).joined(separator: " ")) failed (\(process.terminationStatus)): \(String(decoding: errorData, as: UTF8.self).suffix(800))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
