import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import Testing

/// The kit's middleware as every service stacks it (tracing, metrics, error answers), through HummingbirdTesting's
/// router mode: a thrown ``ServiceResponseError`` is answered with its own response and still carries the trace; any
/// other error is a `server_error` that names the trace id and nothing of the error; a request without TLS has no
/// caller (what `ServiceRequestContext` answers when built without a connection, as router mode builds it).
@Suite struct ServiceRouterTests {
    struct Refusal: ServiceResponseError {
        var status: HTTPResponse.Status { .forbidden }
        func response(from request: Request, context: some RequestContext) throws -> Response {
            JSONResponse.oauthError(.forbidden, OAuthErrorResponse(error: "access_denied", errorDescription: "Not you", hint: "Ask someone else."))
        }
    }

    struct Secret: Error { var value = "do-not-leak-this" }

    static let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    func withRouter(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        router.get("/refused") { _, _ -> Response in throw Refusal() }
        router.get("/broken") { _, _ -> Response in throw Secret() }
        router.get("/caller") { _, context -> String in
            let caller = await context.callerIdentity(trustDomain: "certauth")
            let certificate = await context.peerCertificate()
            return "\(caller ?? "none") \(certificate == nil ? "no-certificate" : "certificate") \(context.trace.traceID)"
        }
        try await Application(router: router).test(.router) { client in try await body(client) }
    }

    static func trace(_ response: TestResponse) -> TraceContext? {
        response.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:))
    }

    @Test func aThrownRefusalIsItsOwnAnswerAndContinuesTheTrace() async throws {
        try await withRouter { client in
            try await client.execute(uri: "/refused", method: .get, headers: [HTTPField.Name("traceparent")!: Self.incoming]) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let body = try JSONDecoder().decode(OAuthErrorResponse.self, from: Data(String(buffer: response.body).utf8))
                #expect(body.error == "access_denied" && body.errorDescription == "Not you" && body.hint == "Ask someone else.")
                let trace = try #require(Self.trace(response))
                #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && trace.spanID != "00f067aa0ba902b7")
            }
        }
    }

    @Test func anUnhandledErrorIsAServerErrorThatNamesOnlyTheTrace() async throws {
        try await withRouter { client in
            try await client.execute(uri: "/broken", method: .get) { response in
                #expect(response.status == .internalServerError)
                let text = String(buffer: response.body)
                let body = try JSONDecoder().decode(OAuthErrorResponse.self, from: Data(text.utf8))
                let trace = try #require(Self.trace(response), "a new trace when the caller sent none")
                #expect(body.error == "server_error" && body.errorDescription.contains(trace.traceID))
                #expect(!text.contains("do-not-leak-this") && !text.contains("Secret"))
            }
        }
    }

    @Test func withoutTLSThereIsNoCallerAndAMalformedTraceIsReplaced() async throws {
        try await withRouter { client in
            let malformed = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
            try await client.execute(uri: "/caller", method: .get, headers: [HTTPField.Name("traceparent")!: malformed]) { response in
                #expect(response.status == .ok)
                let trace = try #require(Self.trace(response))
                #expect(trace.traceID != "4bf92f3577b34da6a3ce929d0e0e4736", "uppercase hex is not a traceparent: a new trace")
                #expect(String(buffer: response.body) == "none no-certificate \(trace.traceID)")
            }
        }
    }
}
