import AsyncHTTPClient
import Foundation
import Keystore
import NIOSSL
import ServiceSupport
import Synchronization

/// The two storage backends every roles and storage test runs against.
public enum TestDatabase: String, CaseIterable, Sendable {
    case sqlite
    case postgresql

    /// `CAMUNDA_DATABASE_TYPE`/`CAMUNDA_DATABASE_URL` for a fresh, empty database of this kind.
    public func freshEnvironment(directory: String) async throws -> [String: String] {
        switch self {
        case .sqlite:
            return ["CAMUNDA_DATABASE_TYPE": "sqlite",
                    "CAMUNDA_DATABASE_URL": (directory as NSString).appendingPathComponent("db-\(UUID().uuidString.prefix(8))/roles.sqlite")]
        case .postgresql:
            return ["CAMUNDA_DATABASE_TYPE": "postgresql",
                    "CAMUNDA_DATABASE_URL": try await PostgresTestServer.shared.newDatabaseURL()]
        }
    }
}

/// The PKI ``TestPKI/shared()`` hands out.
private let processPKI = Mutex<TestPKI?>(nil)

extension TestPKI {
    /// One PKI for the whole test process, for tests that only read it: generating RSA keys for every test is the
    /// costliest part of a live test on a 2-core machine. A watchdog shell deletes it when the process ends.
    public static func shared() throws -> TestPKI {
        try processPKI.withLock { existing in
            if let existing { return existing }
            let pki = try TestPKI()
            let watchdog = Process()
            watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
            watchdog.arguments = ["-c", #"while [ -d "/proc/$WATCH" ]; do sleep 1; done; rm -rf "$DIR""#]
            watchdog.environment = ["WATCH": String(getpid()), "DIR": pki.directory, "PATH": "/usr/bin:/bin"]
            watchdog.standardOutput = FileHandle.nullDevice
            watchdog.standardError = FileHandle.nullDevice
            try watchdog.run()
            existing = pki
            return pki
        }
    }

    /// Runs `body` with `client` and shuts the client down however `body` ends (an HTTPClient dropped without
    /// shutdown traps).
    public static func using<T: Sendable>(_ client: HTTPClient, _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// An HTTP client presenting the service certificate of `service` (identity = its first DNS SAN, e.g. `authn`),
    /// trusting the dev CA.
    public func serviceClient(_ service: String) throws -> HTTPClient {
        let loaded = try KeystoreLoader.load(
            path: path("\(service).p12"), password: Self.password, alias: service, keyPassword: nil, settings: .serverSSL)
        let trust = try TrustStoreLoader.load(path: path("truststore.pem"), password: nil, type: nil, setting: "truststore")
        let tls = try ServerTLS.clientConfiguration(credential: loaded.credential, trustRoots: trust, includeSystemRoots: false)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    /// roles' environment: this PKI's `roles.p12`, client certificates required, listeners on port 0, plus `database`.
    public func rolesEnvironment(database: [String: String], extra: [String: String] = [:]) -> [String: String] {
        [
            "SERVER_PORT": "0", "MANAGEMENT_SERVER_PORT": "0",
            "SERVER_SSL_KEY_STORE": path("roles.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": Self.password,
            "SERVER_SSL_CLIENT_AUTH": "need", "SERVER_SSL_TRUST_STORE": path("truststore.pem"),
            "SERVER_HANDLERS_ON_EVENT_LOOP": Self.handlersOnEventLoop,
        ].merging(database) { $1 }.merging(extra) { $1 }
    }
}
