import AsyncHTTPClient
import AuthProtocol
import DevPKI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
@testable import ServiceSupport
import Settings
import SwiftASN1
import Testing
import TestSupport
@testable import TokenIssuer
import X509

/// token-issuer's refusals through HummingbirdTesting's router mode: the routes and middleware of
/// `TokenIssuerApplication.build`, the caller's certificate set on the request context as the TLS listener sets it
/// (no handshake: who the caller is, not how it proved it, decides these answers; the handshake itself is tested live
/// in `TokenIssuerLiveTests`). No IdP is reached: every request here is refused before an exchange.
@Suite struct TokenIssuerRouterTests {
    /// Sets the connection's client certificate on the context, as ``HTTP2Serving`` does once per connection.
    struct PresentedCertificate: RouterMiddleware {
        typealias Context = ServiceRequestContext
        let der: [UInt8]?
        func handle(_ request: Request, context: ServiceRequestContext, next: (Request, ServiceRequestContext) async throws -> Response) async throws -> Response {
            var context = context
            context.connectionPeerCertificate = .some(der.flatMap { PeerCertificateCache.shared.peer(der: $0) })
            return try await next(request, context)
        }
    }

    static func der(_ pki: TestPKI, _ name: String) throws -> [UInt8] {
        let pem = try String(contentsOfFile: pki.path(name), encoding: .utf8)
        return try Certificate(pemEncoded: pem).serializeAsPEM().derBytes
    }

    /// Runs `body` against token-issuer's router with `certificate` (a file of the dev PKI, nil: none) as the caller's.
    func withRouter(certificate: String?, extra: [String: String] = [:], _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let pki = try TestPKI()
        let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(pki.tokenIssuerEnvironment(emulatorPort: 1, extra: extra)))
        let logger = Logger(label: "token-issuer-router-test")
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let der = try certificate.map { try Self.der(pki, $0) }
        try await TestPKI.using(http) {
            let endpoint = TokenEndpointClient(configuration: configuration, credentials: nil, http: http, logger: logger)
            let cache = TokenCache(logger: logger) { scope in try await endpoint.exchange(scope: scope) }
            let routes = TokenIssuerRoutes(
                configuration: configuration, cache: cache, endpoint: endpoint, credentials: nil,
                handouts: TokenIssuerRoutes.handOutCounters(configuration: configuration, metrics: PrometheusCollectorRegistry()))
            let router = Router(context: ServiceRequestContext.self)
            router.add(middleware: PresentedCertificate(der: der))
            router.add(middleware: TracingMiddleware())
            router.add(middleware: MetricsMiddleware())
            router.add(middleware: ErrorLoggingMiddleware())
            routes.register(on: router)
            try await Application(router: router).test(.router) { client in try await body(client) }
        }
    }

    /// Posts `body` to `/v1/token` and reads the OAuth error, checking what every refusal carries.
    static func refusal(_ client: any TestClientProtocol, _ body: String, status: HTTPResponse.Status) async throws -> OAuthErrorResponse {
        try await client.execute(
            uri: ProtocolPath.token, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
        ) { response in
            #expect(response.status == status, "\(body)")
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(response.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:)) != nil)
            return try JSONDecoder().decode(OAuthErrorResponse.self, from: Data(String(buffer: response.body).utf8))
        }
    }

    @Test func aCallerWithoutACertificateOrWithoutAServiceIdentityIsRefused() async throws {
        try await withRouter(certificate: nil) { client in
            let error = try await Self.refusal(client, "{}", status: .unauthorized)
            #expect(error.error == "invalid_client" && error.errorDescription == "A client certificate from the internal CA is required")
            #expect(error.hint?.contains("certauth pki init") == true)
        }
        // The end-user certificate `client.crt` names no spiffe://certauth/<service>.
        try await withRouter(certificate: "client.crt") { client in
            let error = try await Self.refusal(client, "{}", status: .forbidden)
            #expect(error.error == "access_denied" && error.errorDescription.contains("carries no service identity spiffe://certauth/<service>"))
        }
        // A service of the suite that CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS does not name.
        try await withRouter(certificate: "roles.crt") { client in
            let error = try await Self.refusal(client, "{}", status: .forbidden)
            #expect(error.errorDescription == "Service 'roles' may not obtain tokens here")
            #expect(error.hint?.contains("CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS") == true)
        }
    }

    @Test func anAllowedCallersBadBodyOrScopeIsRefusedWithTheFix() async throws {
        try await withRouter(certificate: "\(DevPKI.workload).crt", extra: ["CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES": "\(DevPKI.workload)=\(TestPKI.apiID)/.default"]) { client in
            var error = try await Self.refusal(client, "not json", status: .badRequest)
            #expect(error.error == "invalid_request" && error.errorDescription.hasPrefix("The request body is not the expected JSON object"))
            #expect(error.hint?.contains(#"{"scope": "<resource>/.default"}"#) == true)
            error = try await Self.refusal(client, #"{"scope": 42}"#, status: .badRequest)
            #expect(error.error == "invalid_request")
            error = try await Self.refusal(client, #"{"scope": "https://graph.microsoft.com/User.Read"}"#, status: .badRequest)
            #expect(error.error == "invalid_scope" && error.errorDescription == "Invalid scope: missing .default suffix")
            error = try await Self.refusal(client, #"{"scope": "11111111-2222-3333-4444-555555555555/.default"}"#, status: .forbidden)
            #expect(error.error == "invalid_scope" && error.errorDescription == "Service 'app' may not obtain tokens for this scope")
            #expect(error.hint?.contains("CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES allows 'app' only \(TestPKI.apiID)/.default") == true)
        }
    }
}
