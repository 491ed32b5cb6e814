import Foundation

/// Whether a process holds a listening TCP socket on a port: for tests that start a foreign server (nginx,
/// PostgreSQL, glewlwyd) on a port picked as free a moment earlier. Another process may have taken that port in
/// between; then the foreign server fails to bind while a connect to the port still succeeds (to the wrong process).
/// Read from `/proc/net/tcp{,6}` (the listening socket's inode) and `/proc/PID/fd` (the process's sockets).
public enum ListeningProcess {
    /// True when `pid` has a socket in LISTEN state on `port` (any address).
    public static func holds(pid: Int32, port: Int) -> Bool {
        let inodes = listeningInodes(port: port)
        guard !inodes.isEmpty else { return false }
        let directory = "/proc/\(pid)/fd"
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        for descriptor in descriptors {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(descriptor)"),
                  target.hasPrefix("socket:[") else { continue }
            if inodes.contains(String(target.dropFirst("socket:[".count).dropLast())) { return true }
        }
        return false
    }

    /// Waits up to `seconds` for `pid` to hold a listening socket on every port of `ports`; false when it exits or
    /// the time runs out (the caller picks other ports and starts it again).
    public static func waitUntilHolding(pid: Int32, ports: [Int], seconds: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if ports.allSatisfy({ holds(pid: pid, port: $0) }) { return true }
            if kill(pid, 0) != 0 { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Starts a foreign server on a port picked as free until the started process itself holds it: `make` is given
    /// the port and the attempt number and returns the process to run (configured, not yet running). A process that
    /// exits or does not bind within `seconds` is killed and the next attempt gets another port. Throws after
    /// `attempts` naming `what`.
    public static func start(
        _ what: String, attempts: Int = 5, seconds: Double = 15, _ make: (_ port: Int, _ attempt: Int) throws -> Process
    ) async throws -> (process: Process, port: Int) {
        for attempt in 0..<attempts {
            let port = PostgresTestServer.freePort()
            let process = try make(port, attempt)
            try process.run()
            if await waitUntilHolding(pid: process.processIdentifier, ports: [port], seconds: seconds) {
                return (process, port)
            }
            stop(process)
        }
        throw NotBound(description: "\(what) did not bind a port in \(attempts) attempts")
    }

    /// Stops a foreign server with SIGKILL (openssl ocsp and tinyproxy in the foreground act on SIGTERM late or not at
    /// all) and reaps it.
    public static func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    public struct NotBound: Error, CustomStringConvertible {
        public var description: String
    }

    /// Inodes of the sockets listening on `port`.
    static func listeningInodes(port: Int) -> Set<String> {
        let hexPort = String(format: "%04X", port)
        var inodes = Set<String>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":" + hexPort) else { continue }
                inodes.insert(String(fields[9]))
            }
        }
        return inodes
    }
}
