import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import EntraEmulator
import ServiceClient
import ServiceSupport
import Settings
import Testing
import TestSupport

/// The emulator's refusals, thrown by its routes (``EntraRefusal``, ``GraphFailure``) and answered by
/// ``ErrorLoggingMiddleware``, through the router alone (HummingbirdTesting's router mode): the Entra and Graph error
/// bodies MSAL and azure-identity read, byte for byte in the shape `entraError`/`graphError` wrote (sorted keys; only
/// the ids and timestamps each answer makes up differ), their statuses and headers, and `traceparent`.
@Suite struct EmulatorErrorRouteTests {
    static let base = "https://emulator.test"

    /// A lower-case UUID, as Entra writes its ids.
    static func isID(_ text: String) -> Bool { UUID(uuidString: text) != nil && text == text.lowercased() }

    /// The emulator's router as `EmulatorApplication.build` makes it, with `base` as its base URL.
    static func withRouter(
        _ body: @Sendable (any TestClientProtocol, EmulatorControl, AppRegistry) async throws -> Void
    ) async throws {
        let pki = try TestPKI.shared()
        let registry = try AppRegistry.load(path: pki.path("apps.json"))
        let listener = ListenerSettings(port: 0, managementPort: 0, keystore: nil, clientAuth: .none, trustStore: nil)
        let configuration = EmulatorConfiguration(listener: listener, appsPath: pki.path("apps.json"), baseURL: base)
        let control = EmulatorControl()
        let federationClient = HTTPClient(eventLoopGroupProvider: .singleton)
        try await TestPKI.using(federationClient) {
            let routes = EmulatorRoutes(
                registry: registry, apps: AppRegistryStore(registry), configuration: configuration, keys: try SigningKeys(),
                control: control, clientCertificates: nil, federation: FederationVerifier(egress: EgressClients(direct: federationClient)),
                baseURL: { base })
            let router = Router(context: ServiceRequestContext.self)
            router.add(middleware: TracingMiddleware())
            router.add(middleware: MetricsMiddleware())
            router.add(middleware: ErrorLoggingMiddleware())
            routes.register(on: router)
            try await Application(router: router, logger: CapturedLogs().logger("entra-emulator")).test(.router) { client in
                try await body(client, control, registry)
            }
        }
    }

    /// Checks an Entra error answer and returns its made-up parts (trace id, correlation id, timestamp) after checking
    /// the body is exactly what `entraError` wrote for them.
    static func expectEntraError(
        _ response: TestResponse, status: HTTPResponse.Status, error: String, code: Int, message: String, codes: [Int]? = nil
    ) throws -> (traceID: String, correlationID: String) {
        #expect(response.status == status)
        #expect(response.headers[.contentType] == "application/json")
        #expect(response.headers[.cacheControl] == "no-store")
        #expect(response.headers[traceparentField] != nil, "a thrown refusal is answered inside the tracing middleware")
        let text = String(buffer: response.body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"])
        let traceID = try #require(object["trace_id"] as? String)
        let correlationID = try #require(object["correlation_id"] as? String)
        let timestamp = try #require(object["timestamp"] as? String)
        #expect(isID(traceID) && isID(correlationID), "\(text)")
        #expect(ISO8601DateFormatter().date(from: timestamp) != nil, "\(timestamp)")
        let codeList = (codes ?? [code]).map(String.init).joined(separator: ",")
        let description = "AADSTS\(code): \(message) Trace ID: \(traceID) Correlation ID: \(correlationID) Timestamp: \(timestamp)"
        let expected = #"{"correlation_id":"\#(correlationID)","error":"\#(error)","error_codes":[\#(codeList)],"error_description":"\#(description)","error_uri":"\#(base)/error?code=\#(code)","timestamp":"\#(timestamp)","trace_id":"\#(traceID)"}"#
        #expect(text == expected)
        return (traceID, correlationID)
    }

    /// Checks a Graph error answer: `{"error": {"code", "innerError": {"client-request-id", "date", "request-id"}, "message"}}`.
    static func expectGraphError(_ response: TestResponse, status: HTTPResponse.Status, code: String, message: String) throws {
        #expect(response.status == status)
        #expect(response.headers[.contentType] == "application/json")
        #expect(response.headers[traceparentField] != nil)
        let text = String(buffer: response.body)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let inner = try #require((object["error"] as? [String: Any])?["innerError"] as? [String: String])
        let requestID = try #require(inner["request-id"])
        let date = try #require(inner["date"])
        #expect(inner["client-request-id"] == requestID && isID(requestID))
        #expect(ISO8601DateFormatter().date(from: date) != nil, "\(date)")
        #expect(text == #"{"error":{"code":"\#(code)","innerError":{"client-request-id":"\#(requestID)","date":"\#(date)","request-id":"\#(requestID)"},"message":"\#(message)"}}"#)
    }

    @Test func discoveryOfAnUnknownTenantIsEntrasInvalidTenant() async throws {
        try await Self.withRouter { client, _, _ in
            try await client.execute(uri: "/not-a-tenant/v2.0/.well-known/openid-configuration", method: .get) { response in
                _ = try Self.expectEntraError(response, status: .badRequest, error: "invalid_tenant", code: 90002, message: "Tenant 'not-a-tenant' not found.")
            }
        }
    }

    @Test func aRefusedTokenRequestEchoesTheClientRequestID() async throws {
        try await Self.withRouter { client, _, _ in
            let requestID = "0f8fad5b-d9cb-469f-a165-70867728950e"
            try await client.execute(
                uri: "/\(TestPKI.tenantID)/oauth2/v2.0/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("client-request-id")!: requestID],
                body: ByteBuffer(string: "grant_type=client_credentials&scope=\(TestPKI.apiID)/.default")
            ) { response in
                #expect(response.status == .badRequest)
                let body = String(buffer: response.body)
                #expect(body.contains(#""correlation_id":"\#(requestID)""#), "\(body)")
                #expect(body.contains(#""error":"invalid_request""#) && body.contains(#""error_codes":[900144]"#), "\(body)")
                #expect(response.headers[traceparentField] != nil)
            }
        }
    }

    @Test func anInjectedFaultKeepsItsCodesAndRetryAfter() async throws {
        try await Self.withRouter { client, control, _ in
            await control.inject(EmulatorControl.Fault(status: 503, retryAfter: 7, errorCodes: [700027, 50000]))
            try await client.execute(
                uri: "/\(TestPKI.tenantID)/oauth2/v2.0/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "grant_type=client_credentials")
            ) { response in
                #expect(response.headers[.retryAfter] == "7")
                _ = try Self.expectEntraError(
                    response, status: .serviceUnavailable, error: "temporarily_unavailable", code: 700027, message: "Injected fault.",
                    codes: [700027, 50000])
            }
        }
    }

    @Test func graphRefusalsAreGraphErrors() async throws {
        try await Self.withRouter { client, _, registry in
            try await client.execute(uri: "/v1.0/applications/no-such-object", method: .get) { response in
                try Self.expectGraphError(
                    response, status: .notFound, code: "Request_ResourceNotFound",
                    message: "Resource 'no-such-object' does not exist or one of its queried reference-property objects are not present.")
            }
            let objectID = try #require(registry.apps[TestPKI.clientID.lowercased()]?.applicationObjectID)
            try await client.execute(uri: "/v1.0/applications/\(objectID)", method: .get) { response in
                try Self.expectGraphError(response, status: .unauthorized, code: "InvalidAuthenticationToken", message: "Access token is empty.")
            }
            try await client.execute(uri: "/v1.0/applications/\(objectID)/removeKey", method: .post, body: ByteBuffer(string: "not json")) { response in
                try Self.expectGraphError(
                    response, status: .badRequest, code: "Request_BadRequest",
                    message: #"The request body must be JSON: {\"keyId\": \"<guid>\", \"proof\": \"<JWT>\"}."#)
            }
        }
    }
}

/// `traceparent` (HummingbirdTesting declares a `.traceparent` of its own).
private let traceparentField = HTTPField.Name("traceparent")!
