import AsyncHTTPClient
import AuthProtocol
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Roles
import ServiceSupport
import Settings
import Storage
import Testing
import TestSupport

/// One HTTP answer, body kept raw.
struct Reply: Sendable {
    var status: Int
    var contentType: String
    var body: Data

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: body)
    }

    var problem: ProblemDetails? { try? decode(ProblemDetails.self) }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A live in-process roles server (TLS, client certificates required) and clients with service identities.
struct RolesHarness: Sendable {
    static let adminHeaders = [
        "X-Auth-Principal": #""alice""#, "X-Auth-Roles": #""reader", "admin""#, "X-Auth-Admin": "?1", "X-Auth-Method": "oidc",
        "X-Auth-Credential": "jti=3f1c; kid=k-2025",
    ]
    static let readerHeaders = [
        "X-Auth-Principal": #""bob""#, "X-Auth-Roles": #""reader""#, "X-Auth-Method": "mtls", "X-Auth-Credential": "x5t#S256=abc",
    ]

    let pki: TestPKI
    let instance: RolesInstance
    let port: Int
    let client: HTTPClient

    /// Starts roles on a fresh database of `kind` (or on `database` when given) and runs `body`.
    static func run(
        _ kind: TestDatabase, database: [String: String]? = nil, pki: TestPKI? = nil, extra: [String: String] = [:],
        logs: CapturedLogs = CapturedLogs(), _ body: @Sendable (RolesHarness) async throws -> Void
    ) async throws {
        let pki = try pki ?? TestPKI.shared()
        let directory = NSTemporaryDirectory() + "certauth-roles-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var databaseEnvironment = database ?? [:]
        if database == nil { databaseEnvironment = try await kind.freshEnvironment(directory: directory) }
        let configuration = try RolesConfiguration(
            environment: EnvironmentReader(pki.rolesEnvironment(database: databaseEnvironment, extra: extra)))
        let logger = logs.logger("roles")
        let instance = try await RolesApplication.build(configuration: configuration, logger: logger)
        let client = try pki.serviceClient("authn")
        try await TestPKI.using(client) {
            try await withServices(instance.services, logger: logger) {
                let harness = RolesHarness(pki: pki, instance: instance, port: await instance.port.port(), client: client)
                try await body(harness)
            }
        }
    }

    /// Sends a request as `client` (default: the authn identity) with the forwarded-user `headers`.
    func send(
        _ method: HTTPMethod, _ path: String, json: String? = nil, headers: [String: String] = adminHeaders,
        client: HTTPClient? = nil
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: "https://localhost:\(port)\(path)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await (client ?? self.client).execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 4 << 20)
        return Reply(
            status: Int(response.status.code), contentType: response.headers.first(name: "content-type") ?? "",
            body: Data(body.readableBytesView))
    }

    /// `POST /v1/resolve`.
    func resolve(_ request: ResolveRequest) async throws -> ResolveResponse {
        let body = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let reply = try await send(.POST, ProtocolPath.resolve, json: body, headers: [:])
        #expect(reply.status == 200, "\(reply.text)")
        return try reply.decode(ResolveResponse.self)
    }

    /// Creates a mapping rule (and asserts 201).
    func createRule(_ id: String, claimName: String? = "oid", value: String, kind: MappingRuleKind? = nil) async throws {
        let request = MappingRuleCreateRequest(mappingRuleId: id, claimName: claimName, claimValue: value, name: "rule \(id)", kind: kind)
        let reply = try await send(.POST, ProtocolPath.mappingRules, json: String(decoding: try JSONEncoder().encode(request), as: UTF8.self))
        #expect(reply.status == 201, "\(reply.text)")
    }

    /// Creates a role (and asserts 201).
    func createRole(_ id: String, name: String? = nil) async throws {
        let reply = try await send(.POST, ProtocolPath.roles, json: #"{"roleId": "\#(id)", "name": "\#(name ?? id)"}"#)
        #expect(reply.status == 201, "\(reply.text)")
    }

    /// Assigns a rule to a role (and asserts 204).
    func assign(_ ruleID: String, to roleID: String) async throws {
        let reply = try await send(.PUT, "/v2/roles/\(roleID)/mapping-rules/\(ruleID)")
        #expect(reply.status == 204, "\(reply.text)")
    }
}
