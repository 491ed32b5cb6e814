import AsyncHTTPClient
import Authn
import AuthProtocol
import Foundation
import NIOHTTP1
import ServiceSupport
import Settings
import Testing
import TestSupport

/// authn's answers that are no decision about the caller, now thrown by the routes (``AuthnRequestError``) and answered
/// by ``ErrorLoggingMiddleware``: the same status, body bytes and content type as the routes built by hand before, with
/// `traceparent`; and not counted in `certauth_authn_decisions_total`. A live authn (client certificates only, no IdP).
@Suite struct AuthnRequestErrorTests {
    static func environment(_ pki: TestPKI) -> [String: String] {
        [
            "SERVER_PORT": "0", "MANAGEMENT_SERVER_PORT": "0",
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES": "ROLE_USER",
            "CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES": "ROLE_USER",
            "SERVER_HANDLERS_ON_EVENT_LOOP": TestPKI.handlersOnEventLoop,
        ]
    }

    /// The trace id of an answer's `traceparent`.
    static func traceID(_ answer: Answer) throws -> String {
        let traceparent = try #require(answer.headers["traceparent"], "a thrown answer still carries traceparent")
        return String(traceparent.split(separator: "-")[1])
    }

    @Test func unreadableAuthenticateBodiesAndManagementTargetsAnswerAsBefore() async throws {
        let pki = try TestPKI.shared()
        let logs = CapturedLogs()
        let configuration = try AuthnConfiguration(environment: EnvironmentReader(Self.environment(pki)))
        let authn = try await AuthnApplication.build(configuration: configuration, logger: logs.logger("authn"))
        try await withServices(authn.services, logger: logs.logger("group")) {
            let base = "https://localhost:\(await authn.port.port())"
            // POST /v1/authenticate from a service of the suite: 400 invalid_request, OAuth body with the trace id.
            try await withClient(try pki.serviceClient("token-issuer")) { service in
                let garbled = try await call(service, "\(base)/v1/authenticate", method: .POST, body: "not json")
                #expect(garbled.status == 400)
                #expect(garbled.headers["content-type"] == "application/json" && garbled.headers["www-authenticate"] == nil)
                #expect(garbled.text == #"{"error":"invalid_request","error_description":"the body must be JSON {\"token\": \"...\"}, {\"token\": \"...\", \"certificate_chain_pem\": \"...\"} or {\"certificate_chain_pem\": \"...\"}","trace_id":"\#(try Self.traceID(garbled))"}"#)

                let empty = try await call(service, "\(base)/v1/authenticate", method: .POST, body: "{}")
                #expect(empty.status == 400)
                #expect(empty.text == #"{"error":"invalid_request","error_description":"send \"token\" (optionally with \"certificate_chain_pem\" for certificate-bound tokens) or \"certificate_chain_pem\" alone","trace_id":"\#(try Self.traceID(empty))"}"#)
            }
            // /v2 with an end user's certificate (a reader by its default role): no such route, and no roles service.
            try await withClient(try pki.client()) { user in
                let unknown = try await call(user, "\(base)/v2/nothing")
                #expect(unknown.status == 404)
                #expect(unknown.headers["content-type"] == ProblemDetails.contentType)
                #expect(unknown.text == #"{"detail":"no management route GET /v2/nothing; see docs/roles.md (API) for the /v2 routes","status":404,"title":"Not Found","type":"about:blank"}"#)
                _ = try Self.traceID(unknown)

                let search = try await call(user, "\(base)/v2/roles/search", method: .POST, body: "{}")
                #expect(search.status == 503)
                #expect(search.headers["content-type"] == ProblemDetails.contentType)
                #expect(search.text == #"{"detail":"the /v2 management API is served by the roles service; set CAMUNDA_ROLES_URL (e.g. https://roles:8445)","status":503,"title":"Roles service not configured","type":"about:blank"}"#)
                _ = try Self.traceID(search)
            }
        }
    }
}
