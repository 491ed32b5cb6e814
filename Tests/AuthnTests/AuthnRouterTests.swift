@testable import Authn
import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import ServiceSupport
import Settings
import Testing
import TestSupport

/// authn's refusals of a caller without credentials, through HummingbirdTesting's router mode (no TLS, so no client
/// certificate either): the routes and middleware of `AuthnApplication.build` over an authenticator with nothing
/// configured to accept. Each answer: status, the OAuth error body with its `reason`, `WWW-Authenticate`, `traceparent`.
/// (The credentials themselves, accepted and refused, run against live servers in the other suites of this target.)
@Suite struct AuthnRouterTests {
    func withRouter(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let configuration = try AuthnConfiguration(environment: EnvironmentReader([
            "SERVER_SSL_KEY_STORE": "/certs/authn.p12", "SERVER_SSL_TRUST_STORE": "/certs/truststore.pem",
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://login.microsoftonline.com/\(TestPKI.tenantID)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
        ]))
        let logger = Logger(label: "authn-router-test")
        let authenticator = Authenticator(
            oidc: configuration.oidc, tokens: nil, certificates: nil, defaultRoles: [], roles: nil,
            audit: AdminGrantAudit(logger: logger), adminRoles: Set(configuration.adminRoles), logger: logger)
        let routes = AuthnRoutes(
            configuration: configuration, authenticator: authenticator,
            sessions: SessionManager(store: nil, settings: configuration.sessions, logger: logger), anonymous: nil, roles: nil,
            internalCallers: nil, logger: logger, decisions: AuthnDecisions(metrics: PrometheusCollectorRegistry()))
        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        routes.register(on: router)
        try await Application(router: router).test(.router) { client in try await body(client) }
    }

    @Test(arguments: [ProtocolPath.me, ProtocolPath.forwardAuth])
    func aCallerWithoutCredentialsIsAskedForThem(path: String) async throws {
        try await withRouter { client in
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let challenge = try #require(response.headers[.wwwAuthenticate])
                #expect(challenge.hasPrefix(#"Bearer realm="certauth", error_description=""#))
                let trace = try #require(response.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:)))
                let error = try JSONDecoder().decode(OAuthErrorResponse.self, from: Data(String(buffer: response.body).utf8))
                #expect(error.error == "missing_credentials" && error.reason != nil && error.traceID == trace.traceID)
                #expect(challenge.contains(error.errorDescription), "the challenge names the same cause as the body")
            }
        }
    }

    /// An `Authorization` header that is not `Bearer <token>` is refused for its scheme (`invalid_token`,
    /// `authorization_scheme_unsupported`), never taken for an anonymous caller, and the scheme is named.
    @Test(arguments: [("Bearer", "Bearer"), ("Basic dXNlcjpwYXNz", "Basic"), ("Negotiate abc", "Negotiate")])
    func anAuthorizationHeaderOfAnotherSchemeIsRefused(value: String, scheme: String) async throws {
        try await withRouter { client in
            try await client.execute(uri: ProtocolPath.me, method: .get, headers: [.authorization: value]) { response in
                #expect(response.status == .unauthorized)
                let error = try JSONDecoder().decode(OAuthErrorResponse.self, from: Data(String(buffer: response.body).utf8))
                #expect(error.error == "invalid_token" && error.reason == "authorization_scheme_unsupported")
                #expect(error.errorDescription == "the Authorization header must be 'Bearer <access token>'; the scheme '\(scheme)' is not accepted")
                #expect(response.headers[.wwwAuthenticate]
                    == #"Bearer realm="certauth", error="invalid_token", error_description="\#(error.errorDescription)""#)
            }
        }
    }
}
