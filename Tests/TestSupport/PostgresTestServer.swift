import Foundation

/// A real PostgreSQL server for the tests: started once per test process in a temporary directory (initdb + pg_ctl
/// on a free port, listening on 127.0.0.1 only), one fresh database per test. A watchdog shell stops the server
/// and deletes its directory when the test process ends, however it ends.
///
/// Binaries come from `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package; `.ci/run` installs it)
/// or `CERTAUTH_POSTGRES_BIN`. Without them every PostgreSQL test fails with a message saying so: CI must not
/// pass silently without PostgreSQL. initdb refuses to run as root, so as root the server runs as `postgres`.
public actor PostgresTestServer {
    public static let shared = PostgresTestServer()

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    private struct Running {
        var binDirectory: String
        var port: Int
        var password: String
    }

    private enum State {
        case idle
        case starting(Task<Running, any Error>)
        case running(Running)
        case failed(String)
    }

    private static let user = "certauth"
    private var state = State.idle
    private var counter = 0

    /// A `postgres://` URL of a new, empty database on the shared server (started on first use).
    public func newDatabaseURL() async throws -> String {
        let server = try await running()
        counter += 1
        let name = "t\(counter)_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await Self.offThread {
            try Self.run(
                "\(server.binDirectory)/createdb",
                ["-h", "127.0.0.1", "-p", String(server.port), "-U", Self.user, name],
                environment: ["PGPASSWORD": server.password])
        }
        return "postgres://\(Self.user):\(server.password)@127.0.0.1:\(server.port)/\(name)?sslmode=disable"
    }

    private func running() async throws -> Running {
        switch state {
        case .running(let server): return server
        case .failed(let message): throw Unavailable(description: message)
        case .starting(let task): return try await task.value
        case .idle:
            let task = Task { try await Self.offThread { try Self.start() } }
            state = .starting(task)
            do {
                let server = try await task.value
                state = .running(server)
                return server
            } catch {
                state = .failed(String(describing: error))
                throw error
            }
        }
    }

    /// Runs blocking work (processes, waits) on a plain thread, not on the concurrency pool.
    private static func offThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    /// The newest `/usr/lib/postgresql/*/bin` holding initdb, pg_ctl and createdb, or `CERTAUTH_POSTGRES_BIN`.
    public static func binDirectory() -> String? {
        let fileManager = FileManager.default
        let needed = ["initdb", "pg_ctl", "createdb", "postgres"]
        func complete(_ directory: String) -> Bool {
            needed.allSatisfy { fileManager.isExecutableFile(atPath: "\(directory)/\($0)") }
        }
        if let explicit = ProcessInfo.processInfo.environment["CERTAUTH_POSTGRES_BIN"], complete(explicit) { return explicit }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        return versions.map { "\(root)/\($0)/bin" }.first(where: complete)
    }

    /// A new PostgreSQL cluster in `directory/data` (user `certauth`, scram-sha-256, a random password), made with
    /// initdb as the `postgres` user when running as root. Returns the binaries' directory, the password, and how
    /// to run a command as the server's user.
    public static func initializeCluster(directory: String) throws -> (bin: String, password: String, asServerUser: @Sendable (String, [String]) -> (String, [String])) {
        guard let bin = binDirectory() else {
            throw Unavailable(description: "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (or CERTAUTH_POSTGRES_BIN); install them with `apt-get install -y postgresql` (.ci/run does) to run the PostgreSQL tests.")
        }
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let password = "pg-" + UUID().uuidString
        try Data(password.utf8).write(to: URL(fileURLWithPath: directory + "/pwfile"))
        /// As root, commands run as `postgres` through runuser.
        var asServerUser: @Sendable (String, [String]) -> (String, [String]) = { ($0, $1) }
        if geteuid() == 0 {
            // initdb refuses root: hand the directory to the postgres user and run the server as that user.
            guard let account = getpwnam("postgres") else {
                throw Unavailable(description: "running as root, but there is no 'postgres' user to run the PostgreSQL test server as (the postgresql package creates it).")
            }
            let uid = account.pointee.pw_uid, gid = account.pointee.pw_gid
            for path in [directory, directory + "/pwfile"] where chown(path, uid, gid) != 0 {
                throw Unavailable(description: "cannot hand \(path) to the postgres user (errno \(errno)).")
            }
            asServerUser = { ("/usr/sbin/runuser", ["-u", "postgres", "--", $0] + $1) }
        }
        let initdb = asServerUser("\(bin)/initdb", [
            "-D", directory + "/data", "-U", user, "--auth=scram-sha-256", "--pwfile=\(directory)/pwfile",
            "-E", "UTF8", "--locale=C", "--no-sync",
        ])
        try run(initdb.0, initdb.1)
        return (bin, password, asServerUser)
    }

    private static func start() throws -> Running {
        let directory = NSTemporaryDirectory() + "certauth-pg-" + UUID().uuidString.prefix(8)
        let fileManager = FileManager.default
        let (bin, password, asServerUser) = try initializeCluster(directory: directory)
        var lastError = ""
        for _ in 0..<5 {
            let port = freePort()
            // The watchdog: start the server, report, then stop it and clean up once this process is gone.
            let script = """
            "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
              -o "-p $PORT -k $DIR -h 127.0.0.1 -c max_connections=400 -c fsync=off -c full_page_writes=off" start >"$DIR/start.log" 2>&1
            status=$?
            echo $status >"$DIR/started"
            [ $status -eq 0 ] || exit $status
            while [ -d "/proc/$WATCH" ]; do sleep 0.5; done
            "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
            rm -rf "$DIR"
            """
            let shell = asServerUser("/bin/sh", ["-c", script])
            let process = Process()
            process.executableURL = URL(fileURLWithPath: shell.0)
            process.arguments = shell.1
            process.environment = [
                "BIN": bin, "DIR": directory, "PORT": String(port), "WATCH": String(getpid()),
                "PATH": "/usr/bin:/bin", "LANG": "C",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let started = directory + "/started"
            let deadline = Date().addingTimeInterval(90)
            while !fileManager.fileExists(atPath: started), Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
            }
            let status = (try? String(contentsOfFile: started, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            if status == "0" { return Running(binDirectory: bin, port: port, password: password) }
            lastError = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "no server log"
            try? fileManager.removeItem(atPath: started)
        }
        throw Unavailable(description: "the PostgreSQL test server did not start: \(lastError.suffix(2000))")
    }

    @discardableResult
    private static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ["PATH": "/usr/bin:/bin", "LANG": "C"]
        env.merge(environment) { $1 }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Unavailable(description: "\((executable as NSString).lastPathComponent) \(arguments.first ?? "") failed (status \(process.terminationStatus)): \(output.suffix(1500))")
        }
        return output
    }

    /// A TCP port nobody listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
