import AsyncHTTPClient
import Foundation
import Keystore
import NIOSSL
import ServiceSupport

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

extension TestPKI {
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
        ].merging(database) { $1 }.merging(extra) { $1 }
    }
}
