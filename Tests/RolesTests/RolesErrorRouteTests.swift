import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import Roles
import ServiceSupport
import Storage
import Testing
import TestSupport

/// The refusals roles' routes throw (``RolesError``), answered by ``ErrorLoggingMiddleware`` through the router alone
/// (HummingbirdTesting's router mode: no socket, no TLS): the same status, `application/problem+json` bytes and headers
/// as the hand-written `respond` answered before, with `traceparent` like every answer.
@Suite struct RolesErrorRouteTests {
    /// A store whose writes and audit reads fail with `error` (the view stays empty).
    struct FailingStore: RolesStore {
        let error: any Error & Sendable
        func load() async throws -> RolesSnapshot { RolesSnapshot(version: 0, mappingRules: [], roles: [], assignments: []) }
        func version() async throws -> Int64 { 0 }
        func apply(_ mutation: RolesMutation, by actor: AuditActor, at time: Date) async throws -> MutationResult { throw error }
        func auditLog(limit: Int, before: Int64?) async throws -> AuditPage { throw error }
    }

    struct DiskOnFire: Error {}

    static let admin: HTTPFields = [
        HTTPField.Name("X-Auth-Principal")!: #""alice""#, HTTPField.Name("X-Auth-Roles")!: #""admin""#,
        HTTPField.Name("X-Auth-Admin")!: "?1", HTTPField.Name("X-Auth-Method")!: "oidc", .contentType: "application/json",
    ]

    /// The router as `RolesApplication` builds it (without the caller check unless `allowed` is given).
    static func application(store: any RolesStore, logs: CapturedLogs, allowed: [String]? = nil) -> some ApplicationProtocol {
        let logger = logs.logger("roles")
        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        if let allowed {
            router.add(middleware: CallerCheckMiddleware(allowed: Set(allowed), trustDomain: ServiceIdentity.defaultTrustDomain))
        }
        RolesRoutes(state: RolesState(store: store, logger: logger), store: store).register(on: router)
        return Application(router: router, logger: logger)
    }

    /// Status, content type, `Cache-Control` and `traceparent` of a problem answer, and its exact body.
    static func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status, body: String) {
        #expect(response.status == status)
        #expect(response.headers[.contentType] == ProblemDetails.contentType)
        #expect(response.headers[.cacheControl] == "no-store")
        #expect(response.headers[traceparentField] != nil, "a thrown refusal is answered inside the tracing middleware")
        #expect(String(buffer: response.body) == body)
    }

    @Test func storageRefusalsAreProblemsWithTheirStatus() async throws {
        let conflict = StorageError(.conflict, "A role with roleId 'ops' exists already.", field: "roleId")
        try await Self.application(store: FailingStore(error: conflict), logs: CapturedLogs()).test(.router) { client in
            try await client.execute(uri: "/v2/roles", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"roleId": "ops", "name": "Ops"}"#)) { response in
                Self.expectProblem(response, .conflict, body: #"{"detail":"A role with roleId 'ops' exists already.","field":"roleId","instance":"/v2/roles","status":409,"title":"Conflict","type":"about:blank"}"#)
            }
        }
        let logs = CapturedLogs()
        let unavailable = StorageError(.unavailable, "database is locked")
        try await Self.application(store: FailingStore(error: unavailable), logs: logs).test(.router) { client in
            try await client.execute(uri: "/v2/audit-log", method: .get, headers: Self.admin) { response in
                Self.expectProblem(response, .serviceUnavailable, body: #"{"detail":"The roles database is not available; nothing was changed. Retry later; the roles service log has the cause.","instance":"/v2/audit-log","status":503,"title":"Service Unavailable","type":"about:blank"}"#)
            }
        }
        // The cause goes to the log, as swift-log's error (error.message, error.type), under the request's trace.
        let line = try #require(logs.all.first { $0.contains("Roles database unavailable") })
        #expect(line.contains(#""error.message":"StorageError.unavailable: database is locked""#), "\(line)")
        #expect(line.contains(#""error.type":"StorageError""#) && line.contains(#""trace_id":""#), "\(line)")
    }

    @Test func requestProblemsAreTheSameBytesAsBefore() async throws {
        try await Self.application(store: FailingStore(error: DiskOnFire()), logs: CapturedLogs()).test(.router) { client in
            try await client.execute(uri: "/v2/roles/nobody", method: .get, headers: Self.admin) { response in
                Self.expectProblem(response, .notFound, body: #"{"detail":"No role with roleId 'nobody' exists.","field":"roleId","instance":"/v2/roles/nobody","status":404,"title":"Not Found","type":"about:blank"}"#)
            }
            try await client.execute(uri: "/v2/roles", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"roleId": "ops", "name": "Ops", "colour": "red"}"#)) { response in
                #expect(response.status == .badRequest)
                let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(response.body.readableBytesView))
                #expect(problem.field == "colour" && problem.instance == "/v2/roles" && problem.title == "Bad Request", "\(problem)")
                #expect(response.headers[traceparentField] != nil)
            }
            var reader = Self.admin
            reader[HTTPField.Name("X-Auth-Admin")!] = nil
            reader[HTTPField.Name("X-Auth-Principal")!] = #""bob""#
            try await client.execute(uri: "/v2/roles/ops", method: .delete, headers: reader) { response in
                Self.expectProblem(response, .forbidden, body: #"{"detail":"'bob' is not an admin (authn sends X-Auth-Admin: ?1 for callers holding one of CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES); changing roles and mapping rules and reading the audit log need it.","instance":"/v2/roles/ops","status":403,"title":"Forbidden","type":"about:blank"}"#)
            }
            try await client.execute(uri: "/v2/roles/ops", method: .delete, headers: [.contentType: "application/json"]) { response in
                Self.expectProblem(response, .forbidden, body: #"{"detail":"The request carries no X-Auth-Principal; roles answers /v2 requests only as forwarded by authn after it authenticated the caller.","instance":"/v2/roles/ops","status":403,"title":"Forbidden","type":"about:blank"}"#)
            }
            try await client.execute(uri: "/v1/resolve", method: .post, body: ByteBuffer(string: "[]")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains(#""detail":"The body is not a resolve request; expected {\"claims\": {...}, \"certificate_subject\": \"CN=...\"}.""#))
            }
        }
    }

    /// The one intended change: an error that is no refusal (here the store's own) is answered by the middleware with
    /// the suite's `server_error` body naming the trace id, where roles' hand-written 500 problem said "Internal error;
    /// the roles service log has the details."; the log line names the error's type, not its text.
    @Test func anUnexpectedErrorIsTheSuitesServerError() async throws {
        let logs = CapturedLogs()
        try await Self.application(store: FailingStore(error: DiskOnFire()), logs: logs).test(.router) { client in
            try await client.execute(uri: "/v2/roles", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"roleId": "ops", "name": "Ops"}"#)) { response in
                #expect(response.status == .internalServerError)
                #expect(response.headers[.contentType] == "application/json")
                let traceparent = try #require(response.headers[traceparentField])
                let traceID = traceparent.split(separator: "-")[1]
                #expect(String(buffer: response.body) == #"{"error":"server_error","error_description":"Internal error; see the service log for trace_id \#(traceID)"}"#)
            }
        }
        let line = try #require(logs.all.first { $0.contains("Unhandled error") })
        #expect(line.contains(#""error.type":"DiskOnFire""#) && line.contains(#""http.route":"/v2/roles""#), "\(line)")
    }

    @Test func aCallerWithoutAServiceCertificateIsRefusedByTheMiddlewaresThrow() async throws {
        try await Self.application(store: FailingStore(error: DiskOnFire()), logs: CapturedLogs(), allowed: ["authn"]).test(.router) { client in
            try await client.execute(uri: "/v1/resolve", method: .post, body: ByteBuffer(string: "{}")) { response in
                Self.expectProblem(response, .forbidden, body: #"{"detail":"Caller identity none (no verified client certificate) is not allowed to call roles; allowed: authn (CAMUNDA_ROLES_ALLOWED_CALLERS).","instance":"/v1/resolve","status":403,"title":"Forbidden","type":"about:blank"}"#)
            }
        }
    }
}

/// `traceparent` (HummingbirdTesting declares a `.traceparent` of its own).
private let traceparentField = HTTPField.Name("traceparent")!
