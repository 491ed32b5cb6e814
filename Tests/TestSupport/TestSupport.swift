import AsyncHTTPClient
import _CryptoExtras
import DevPKI
import Foundation
import Keystore
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import ServiceSupport
import Synchronization
import SwiftASN1
import X509

/// A throwaway dev PKI in a temporary directory, plus the emulator's app registrations.
public struct TestPKI: Sendable {
    public static let tenantID = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
    public static let clientID = "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7"
    public static let apiID = "2622078b-0164-41ee-8794-3ff8d9f8e402"
    public static let password = "test-Pa55word-do-not-log"

    public let directory: String

    public init(scheme: DevPKI.Scheme = .flat) throws {
        directory = NSTemporaryDirectory() + "certauth-test-" + UUID().uuidString
        _ = try DevPKI.initialize(directory: directory, password: Self.password, scheme: scheme)
        let apps = """
        {"tenant_id": "\(Self.tenantID)",
         "apps": [
          {"client_id": "\(Self.clientID)", "name": "identity", "certificates": ["identity.cer"],
           "client_secrets": [], "app_roles_granted": {"\(Self.apiID)": ["Admin", "Reader"]}},
          {"client_id": "\(Self.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        try Data(apps.utf8).write(to: URL(fileURLWithPath: path("apps.json")))
    }

    /// `SERVER_HANDLERS_ON_EVENT_LOOP` for services built in the test process: false, since every in-process service
    /// and client of the whole parallel test run shares the same two event loops (with handlers on them, a debug build
    /// once held back a connect for over 10 s). `ProcessTests.start` removes it: a service in its own process runs the
    /// production default.
    public static let handlersOnEventLoop = "false"

    public func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// The seed's environment block for token-issuer against the emulator on `emulatorPort`, listeners on port 0.
    public func tokenIssuerEnvironment(emulatorPort: Int, extra: [String: String] = [:]) -> [String: String] {
        [
            "SERVER_PORT": "0", "MANAGEMENT_SERVER_PORT": "0",
            "SERVER_SSL_KEY_STORE": path("token-issuer.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": Self.password,
            "SERVER_SSL_CLIENT_AUTH": "need", "SERVER_SSL_TRUST_STORE": path("truststore.pem"),
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL": "https://localhost:\(emulatorPort)/\(Self.tenantID)/v2.0",
            "CAMUNDA_IDENTITY_CLIENT_ID": Self.clientID,
            "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRANTTYPE": "client_credentials",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "\(Self.apiID)/.default",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": path("identity.p12"),
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD": Self.password,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS": "identity",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD": Self.password,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_RETRIES": "1",
            // authn (the unprotected-API flow) and the dev workload `app` (the tests' own caller, workloadClient()).
            "CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS": "authn,\(DevPKI.workload)",
            "CAMUNDA_TOKEN_ISSUER_ASSERTION_ALLOWED_CALLERS": DevPKI.workload,
            "SERVER_HANDLERS_ON_EVENT_LOOP": Self.handlersOnEventLoop,
        ].merging(extra) { $1 }
    }

    /// The emulator's environment: this PKI's keystore and app registrations, management port 0.
    public func emulatorEnvironment(port: Int = 0, extra: [String: String] = [:]) -> [String: String] {
        [
            "SERVER_PORT": String(port), "MANAGEMENT_SERVER_PORT": "0",
            "SERVER_SSL_KEY_STORE": path("entra-emulator.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": Self.password,
            "ENTRA_EMULATOR_APPS": path("apps.json"),
        ].merging(extra) { $1 }
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// An HTTP client presenting `client.crt`/`client.key` (an end user; or no certificate) and trusting the dev CA.
    public func client(withCertificate: Bool = true) throws -> HTTPClient {
        try pemClient(withCertificate ? "client" : nil)
    }

    /// An HTTP client presenting the dev workload certificate `app.crt` (service identity `spiffe://certauth/app`),
    /// which token-issuer lets obtain tokens and assertions in ``tokenIssuerEnvironment(emulatorPort:extra:)``.
    public func workloadClient() throws -> HTTPClient {
        try pemClient(DevPKI.workload)
    }

    /// The dev CA with its key, to issue more certificates.
    public func certificateAuthority() throws -> IssuedCertificate {
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: path("ca.crt"), encoding: .utf8))
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: path("ca.key"), encoding: .utf8))
        return IssuedCertificate(certificate: certificate, key: key)
    }

    /// Writes `issued` as `<name>.crt` and `<name>.key` into this PKI, for ``pemClient(_:)``.
    public func write(_ issued: IssuedCertificate, as name: String) throws {
        try Data(try issued.pem.utf8).write(to: URL(fileURLWithPath: path("\(name).crt")))
        try Data(issued.keyPEM.utf8).write(to: URL(fileURLWithPath: path("\(name).key")))
    }

    /// An HTTP client presenting `<name>.crt`/`<name>.key` (nil: none) and trusting the dev CA.
    public func pemClient(_ name: String?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(path("truststore.pem"))
        if let name {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(path("\(name).crt")).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: path("\(name).key"), format: .pem))
        }
        // Generous connect timeout: on a loaded 2-core machine a TLS handshake queued behind a thousand requests is slow,
        // and AHC fails waiting requests with getConnectionFromPoolTimeout after this long.
        return HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: tls, timeout: .init(connect: .seconds(60), read: .seconds(120))))
    }
}

/// Log lines captured in memory, to check what services log (and what they must never log).
public final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public var all: [String] { lines.withLock { $0 } }

    /// A logger whose JSON lines land here.
    public func logger(_ label: String, level: Logger.Level = .debug) -> Logger {
        var logger = Logger(label: label) { label in
            JSONLogHandler(label: label) { [self] line in self.lines.withLock { $0.append(line) } }
        }
        logger.logLevel = level
        return logger
    }
}

/// Runs `services` in a service group while `body` runs, then shuts them down gracefully.
public func withServices<T: Sendable>(
    _ services: [any Service], logger: Logger, _ body: @Sendable () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

extension KeystoreSettingNames {
    /// What messages call a test's keystore settings (the services name theirs: token-issuer's `clientAssertion`,
    /// the kit's `serverSSL`).
    public static let testCredential = KeystoreSettingNames(
        path: "the test keystore", password: "its password", alias: "its alias", keyPassword: "its key password",
        certificate: "the test certificate", privateKey: "its private key")
}
