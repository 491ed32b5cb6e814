import AsyncHTTPClient
@testable import EntraEmulator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceClient
import ServiceSupport
import Settings
import Testing
import TestSupport

/// The emulator's public routes through HummingbirdTesting's router mode (no TLS, no socket: nothing here depends on
/// the connection): discovery, JWKS and the token endpoint's refusals, each with status, Entra's error body and the
/// headers that matter. The same router and middleware as `EmulatorApplication.build`.
@Suite struct EmulatorRouterTests {
    struct EntraError: Decodable {
        var error: String
        var errorDescription: String
        var errorCodes: [Int]
        var correlationID: String
        enum CodingKeys: String, CodingKey {
            case error, errorDescription = "error_description", errorCodes = "error_codes", correlationID = "correlation_id"
        }
    }

    static let base = "https://login.example"
    let tenant = TestPKI.tenantID
    var tokenPath: String { "/\(tenant)/oauth2/v2.0/token" }

    func withRouter(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let pki = try TestPKI()
        let configuration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment()))
        let registry = try AppRegistry.load(path: configuration.appsPath)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        try await TestPKI.using(http) {
            let routes = EmulatorRoutes(
                registry: registry, apps: AppRegistryStore(registry), configuration: configuration, keys: try SigningKeys(),
                control: EmulatorControl(), clientCertificates: nil, federation: FederationVerifier(egress: EgressClients(direct: http)),
                baseURL: { Self.base })
            let router = Router(context: ServiceRequestContext.self)
            router.add(middleware: TracingMiddleware())
            router.add(middleware: MetricsMiddleware())
            router.add(middleware: ErrorLoggingMiddleware())
            routes.register(on: router)
            try await Application(router: router).test(.router) { client in try await body(client) }
        }
    }

    static func form(_ body: String) -> (headers: HTTPFields, body: ByteBuffer) {
        ([.contentType: "application/x-www-form-urlencoded"], ByteBuffer(string: body))
    }

    /// Posts `body` to the token endpoint and reads Entra's error answer, checking what every refusal carries.
    func refusal(_ client: any TestClientProtocol, _ body: String, path: String? = nil, status: HTTPResponse.Status = .badRequest)
        async throws -> EntraError {
        let (headers, buffer) = Self.form(body)
        return try await client.execute(uri: path ?? tokenPath, method: .post, headers: headers, body: buffer) { response in
            #expect(response.status == status, "\(body)")
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(response.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:)) != nil)
            return try JSONDecoder().decode(EntraError.self, from: Data(String(buffer: response.body).utf8))
        }
    }

    @Test func discoveryAndJWKSAnswerForTheTenantOnly() async throws {
        try await withRouter { client in
            try await client.execute(uri: "/\(tenant)/v2.0/.well-known/openid-configuration", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                #expect(document?["issuer"] as? String == "\(Self.base)/\(tenant)/v2.0")
                #expect(document?["token_endpoint"] as? String == "\(Self.base)\(tokenPath)")
                #expect((document?["jwks_uri"] as? String)?.hasPrefix(Self.base) == true)
            }
            try await client.execute(uri: "/not-the-tenant/v2.0/.well-known/openid-configuration", method: .get) { response in
                #expect(response.status == .badRequest)
                let error = try JSONDecoder().decode(EntraError.self, from: Data(String(buffer: response.body).utf8))
                #expect(error.error == "invalid_tenant" && error.errorCodes == [90002])
            }
            try await client.execute(uri: "/\(tenant)/discovery/v2.0/keys", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                let keys = try #require(document?["keys"] as? [[String: Any]])
                #expect(!keys.isEmpty)
                for key in keys {
                    #expect(key["kty"] as? String == "RSA" && key["use"] as? String == "sig")
                    #expect(key["kid"] as? String != nil && key["kid"] as? String == key["x5t"] as? String)
                    #expect(key["d"] == nil, "no private member")
                }
            }
        }
    }

    @Test func tokenEndpointRefusalsNameTheCause() async throws {
        try await withRouter { client in
            var error = try await refusal(client, "")
            #expect(error.error == "invalid_request" && error.errorCodes == [900144] && error.errorDescription.contains("'grant_type'"))
            error = try await refusal(client, "grant_type=password&client_id=x&scope=y")
            #expect(error.error == "unsupported_grant_type" && error.errorCodes == [70003])
            error = try await refusal(client, "grant_type=client_credentials&scope=api%3A%2F%2Fx%2F.default")
            #expect(error.errorCodes == [900144] && error.errorDescription.contains("'client_id'"))
            error = try await refusal(client, "grant_type=client_credentials&client_id=00000000-0000-0000-0000-00000000dead&scope=x")
            #expect(error.error == "unauthorized_client" && error.errorCodes == [700016])
            error = try await refusal(client, "grant_type=client_credentials", path: "/other-tenant/oauth2/v2.0/token")
            #expect(error.errorCodes == [90002])
        }
    }

    /// The form is read by Hummingbird's decoder: a parameter sent twice is refused as Entra does (AADSTS9000411,
    /// RFC 6749 §3.2), whichever value came first; a body that is not valid percent-encoding reads as empty, as before.
    @Test func aParameterSentTwiceOrABrokenBodyIsRefused() async throws {
        try await withRouter { client in
            var error = try await refusal(client, "grant_type=client_credentials&client_id=a&client_id=b&scope=x")
            #expect(error.error == "invalid_request" && error.errorCodes == [9000411])
            #expect(error.errorDescription.contains("The parameter 'client_id' is duplicated."))
            error = try await refusal(client, "grant_type=client_credentials&grant_type=client_credentials")
            #expect(error.errorCodes == [9000411])
            error = try await refusal(client, "grant_type=client%ZZcredentials&client_id=a&scope=x")
            #expect(error.errorCodes == [900144] && error.errorDescription.contains("'grant_type'"))
            error = try await refusal(client, "grant_type=client_credentials&client_id=%FF&scope=x")
            #expect(error.errorCodes == [900144], "percent-encoding that is not UTF-8")
            // `+` and `%20` are both spaces: the scope's two values reach the logic (and the unknown client is named).
            error = try await refusal(client, "grant_type=client_credentials&client_id=not+registered&scope=a%20b+c")
            #expect(error.errorCodes == [700016] && error.errorDescription.contains("'not registered'"))
        }
    }

    /// A refusal continues the caller's trace like any answer (the tracing middleware wraps the route).
    @Test func aRefusalContinuesTheCallersTrace() async throws {
        try await withRouter { client in
            let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            var (headers, body) = Self.form("grant_type=password")
            headers[HTTPField.Name("traceparent")!] = incoming
            try await client.execute(uri: tokenPath, method: .post, headers: headers, body: body) { response in
                #expect(response.status == .badRequest)
                let answered = try #require(response.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:)))
                #expect(answered.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && answered.spanID != "00f067aa0ba902b7")
            }
        }
    }

    @Test func readFormAgreesWithTheRoutes() {
        #expect(TokenEndpointLogic.readForm("a=1&b=x+y%2Bz").form == ["a": "1", "b": "x y+z"])
        #expect(TokenEndpointLogic.readForm("a=1&a=1").refusal?.code == 9000411)
        #expect(TokenEndpointLogic.readForm("a=%").form.isEmpty && TokenEndpointLogic.readForm("a=%").refusal == nil)
        #expect(TokenEndpointLogic.readForm("lonely&a=").form == ["a": ""], "a part without '=' is ignored, an empty value kept")
    }
}
