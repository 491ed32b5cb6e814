import AuthProtocol
import DevPKI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import Roles
@testable import ServiceSupport
import Settings
import Storage
import SwiftASN1
import Testing
import TestSupport
import X509

/// roles' caller check and management routes through HummingbirdTesting's router mode, on SQLite: the router and
/// middleware of `RolesApplication.build`, the caller's certificate set on the request context as the TLS listener
/// sets it (who the caller is decides these answers; the handshake is tested live in `RolesAPITests`). Each answer:
/// status, `application/problem+json` with the field at fault, `traceparent`.
@Suite struct RolesRouterTests {
    struct PresentedCertificate: RouterMiddleware {
        typealias Context = ServiceRequestContext
        let der: [UInt8]?
        func handle(_ request: Request, context: ServiceRequestContext, next: (Request, ServiceRequestContext) async throws -> Response) async throws -> Response {
            var context = context
            context.connectionPeerCertificate = .some(der.flatMap { PeerCertificateCache.shared.peer(der: $0) })
            return try await next(request, context)
        }
    }

    func withRouter(certificate: String?, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let pki = try TestPKI.shared()
        let directory = NSTemporaryDirectory() + "certauth-roles-router-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try RolesConfiguration(
            environment: EnvironmentReader(pki.rolesEnvironment(database: try await TestDatabase.sqlite.freshEnvironment(directory: directory))))
        let logger = Logger(label: "roles-router-test")
        let (store, services) = try await RolesStores.open(configuration.database, urlSetting: RolesSetting.databaseURL, logger: logger)
        #expect(services.isEmpty, "SQLite runs no service")
        let state = RolesState(store: store, logger: logger)
        _ = try await state.reload()
        let der = try certificate.map { try Certificate(pemEncoded: String(contentsOfFile: pki.path($0), encoding: .utf8)).serializeAsPEM().derBytes }

        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: PresentedCertificate(der: der))
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        router.add(middleware: CallerCheckMiddleware(allowed: Set(configuration.allowedCallers), trustDomain: configuration.listener.serviceTrustDomain))
        RolesRoutes(state: state, store: store, trustDomain: configuration.listener.serviceTrustDomain).register(on: router)
        try await Application(router: router).test(.router) { client in try await body(client) }
    }

    static let admin: HTTPFields = [
        HTTPField.Name("X-Auth-Principal")!: #""alice""#, HTTPField.Name("X-Auth-Roles")!: #""admin""#,
        HTTPField.Name("X-Auth-Admin")!: "?1", HTTPField.Name("X-Auth-Method")!: "oidc", .contentType: "application/json",
    ]

    /// Sends a request and reads the problem answer, checking what every refusal carries.
    static func problem(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = admin, body: String? = nil,
        status: HTTPResponse.Status
    ) async throws -> ProblemDetails {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            #expect(response.status == status, "\(method) \(uri)")
            #expect(response.headers[.contentType] == ProblemDetails.contentType)
            #expect(response.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:)) != nil)
            let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(String(buffer: response.body).utf8))
            #expect(problem.status == Int(status.code) && problem.instance == uri)
            return problem
        }
    }

    @Test func onlyAllowedServicesMayCallRoles() async throws {
        try await withRouter(certificate: nil) { client in
            let problem = try await Self.problem(client, .post, ProtocolPath.resolve, body: "{}", status: .forbidden)
            #expect(problem.detail.contains("none (no verified client certificate)") && problem.detail.contains("CAMUNDA_ROLES_ALLOWED_CALLERS"))
        }
        try await withRouter(certificate: "client.crt") { client in
            let problem = try await Self.problem(client, .get, "/v2/roles/admin", status: .forbidden)
            #expect(problem.detail.contains("an end-user certificate is never taken for a service"))
        }
        try await withRouter(certificate: "token-issuer.crt") { client in
            let problem = try await Self.problem(client, .get, "/v2/roles/admin", status: .forbidden)
            #expect(problem.detail.contains("Caller identity 'token-issuer' is not allowed to call roles"))
        }
    }

    @Test func managementRefusalsNameTheFieldAtFault() async throws {
        try await withRouter(certificate: "authn.crt") { client in
            // A write without X-Auth-Principal: not forwarded by authn after authentication.
            var problem = try await Self.problem(
                client, .post, "/v2/roles", headers: [.contentType: "application/json"], body: #"{"roleId": "x", "name": "X"}"#, status: .forbidden)
            #expect(problem.detail.contains("carries no X-Auth-Principal"))
            problem = try await Self.problem(client, .get, "/v2/roles/writer", status: .notFound)
            #expect(problem.field == "roleId")
            problem = try await Self.problem(client, .post, "/v2/roles", body: "not json", status: .badRequest)
            problem = try await Self.problem(client, .post, "/v2/mapping-rules", body: #"{"mappingRuleId": "r1"}"#, status: .badRequest)
            #expect(problem.field != nil, "\(problem.detail)")
            // Created, then the same id again: a conflict on the id.
            try await client.execute(
                uri: "/v2/roles", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"roleId": "writer", "name": "Writer"}"#)
            ) { response in
                #expect(response.status == .created, "\(String(buffer: response.body))")
            }
            problem = try await Self.problem(client, .post, "/v2/roles", body: #"{"roleId": "writer", "name": "Again"}"#, status: .conflict)
            problem = try await Self.problem(client, .put, "/v2/roles/writer/mapping-rules/missing", status: .notFound)
            #expect(problem.field == "mappingRuleId")
        }
    }
}
