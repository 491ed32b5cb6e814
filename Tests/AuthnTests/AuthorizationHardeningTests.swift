import AsyncHTTPClient
import AuthProtocol
@testable import Authn
import Settings
import Foundation
import Logging
import NIOHTTP1
import Roles
import ServiceSupport
import Storage
import Testing
import TestSupport

/// The findings of the adversarial review of the request edge (issue 15), each reproduced against live services:
/// role injection through commas, `#` and dot segments in `/v2` paths, the anonymous admin of the unprotected-API
/// flow, and its unbounded sessions.
@Suite(.serialized)
struct AuthorizationHardeningTests {
    /// emulator (with `apps` as its app registrations when given), token-issuer, roles (initial admin: the dev app's
    /// `azp`) and authn, in process on port 0.
    func withHardenedSuite(
        apps: String? = nil, rolesExtra: [String: String] = [:], authn extra: [String: String] = [:],
        _ body: @Sendable (TestPKI, CapturedLogs, SuitePorts, RolesInstance) async throws -> Void
    ) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        if let apps { try Data(apps.utf8).write(to: URL(fileURLWithPath: pki.path("apps.json"))) }
        let logs = CapturedLogs()
        let roles = try await RolesApplication.build(
            configuration: try RolesConfiguration(environment: EnvironmentReader(pki.rolesEnvironment(
                database: ["CAMUNDA_DATABASE_URL": pki.path("roles.sqlite")],
                extra: ["INITIAL_CLAIM_NAME": "azp", "INITIAL_CLAIM_VALUE": TestPKI.clientID].merging(rolesExtra) { $1 }))),
            logger: logs.logger("roles"))
        try await withServices(roles.services, logger: logs.logger("group")) {
            let rolesPort = await roles.port.port()
            try await AuthnLiveTests().withSuite(pki: pki, logs: logs, rolesPort: rolesPort, extra: { _ in extra }) { pki, logs, ports in
                try await body(pki, logs, ports, roles)
            }
        }
    }

    /// Finding: a role claim `Reader,admin` was one role to authn but two to roles (which split `X-Auth-Roles` on
    /// commas): its holder read the audit log as admin.
    @Test func aRoleWithACommaIsRefusedAndNeverSplitIntoAdmin() async throws {
        let apps = """
        {"tenant_id": "\(TestPKI.tenantID)",
         "apps": [
          {"client_id": "\(TestPKI.clientID)", "name": "identity", "certificates": ["identity.cer"],
           "client_secrets": [], "app_roles_granted": {"\(TestPKI.apiID)": ["Reader,admin", "Reader", "two words"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Reader,admin", "Reader", "two words"]}]}
        """
        // The dev app is not the initial admin here: the only way to admin would be the injected role.
        try await withHardenedSuite(apps: apps, rolesExtra: ["INITIAL_CLAIM_VALUE": "nobody"]) { pki, logs, ports, roles in
            let token = try await withClient(try pki.workloadClient()) { try await suiteToken($0, issuerPort: ports.issuer) }
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let bearer = [("authorization", "Bearer \(token)")]
                let base = "https://localhost:\(ports.authn)"
                let me = try await call(anonymous, "\(base)/v2/authentication/me", headers: bearer)
                #expect(me.status == 200, "\(me.text)")
                #expect(try me.principal().roles == ["Reader"], "the roles with ',' and white space are refused")

                let audit = try await call(anonymous, "\(base)/v2/audit-log", headers: bearer)
                #expect(audit.status == 403, "\(audit.text)")
                let write = try await call(anonymous, "\(base)/v2/roles", method: .POST, headers: bearer, body: #"{"roleId": "x", "name": "x"}"#)
                #expect(write.status == 403, "\(write.text)")

                let forward = try await call(anonymous, "\(base)/v1/forward-auth", headers: bearer)
                #expect(forward.status == 200)
                #expect(forward.headers["x-auth-roles"] == #""Reader""#)
                #expect(forward.headers["x-auth-admin"] == nil)
            }
            let refusals = logs.all.filter { $0.contains("Role value refused") }
            #expect(refusals.contains { $0.contains("Reader,admin") && $0.contains("token claim roles") }, "\(refusals)")
            #expect(refusals.contains { $0.contains("two words") && $0.contains("white space") }, "\(refusals)")
            #expect(try await roles.store.load().roles.contains { $0.id == "x" } == false)
        }
    }

    /// Finding: authn took `POST /v2/roles#/search` for a read (suffix `/search`) and forwarded it, and the HTTP client
    /// dropped everything after `#`: a create. Sent raw over HTTP/1.1 by the OpenSSL CLI, as an attacker would.
    @Test func aManagementTargetWithAFragmentOrDotSegmentsIsRefusedWith400() async throws {
        try await withHardenedSuite(authn: ["CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES": "ROLE_USER"]) { pki, _, ports, roles in
            let body = #"{"roleId": "smuggled", "name": "smuggled"}"#
            for target in ["/v2/roles#/search", "/v2/roles/x/../../roles", "/v2//roles", "/v2/roles/%2e%2e/audit-log", "/v2/roles%2Fsearch"] {
                let answer = try await RawHTTP1.send(
                    port: ports.authn, pki: pki, certificate: "client",
                    request: "POST \(target) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
                #expect(answer.status == 400, "\(target): \(answer.text)")
                #expect(answer.text.contains("Bad request target"), "authn itself refused it: \(answer.text)")
            }
            // What is left after the checks is authorised per route: a reader may search, not create.
            try await withClient(try pki.client()) { reader in
                let search = try await call(reader, "https://localhost:\(ports.authn)/v2/roles/search", method: .POST, body: "{}")
                #expect(search.status == 200, "\(search.text)")
                let create = try await call(reader, "https://localhost:\(ports.authn)/v2/roles", method: .POST, body: body)
                #expect(create.status == 403)
                let unknown = try await call(reader, "https://localhost:\(ports.authn)/v2/roles/x/search", method: .POST, body: "{}")
                #expect(unknown.status == 404, "a /search suffix is no route: \(unknown.text)")
            }
            #expect(try await roles.store.load().roles.contains { $0.id == "smuggled" } == false)
        }
    }

    /// Reading roles and rules needs a reader role (none by default): an authenticated principal is not enough.
    @Test func readingTheManagementAPINeedsAReaderRole() async throws {
        try await withHardenedSuite { pki, _, ports, _ in
            try await withClient(try pki.client()) { user in
                let search = try await call(user, "https://localhost:\(ports.authn)/v2/roles/search", method: .POST, body: "{}")
                #expect(search.status == 403, "\(search.text)")
                #expect(search.text.contains("CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES"))
            }
        }
    }

    /// Finding: with `UNPROTECTEDAPI=true` every request without credentials became the suite's service identity,
    /// which `make run` and compose make admin: an anonymous request created a role. And each made a new session.
    @Test func anonymousCallersGetOnlyTheAnonymousRolesAndShareOneSignIn() async throws {
        let settings = [
            "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true", "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true",
            "CAMUNDA_TOKEN_ISSUER_URL": "auto",
        ]
        try await withHardenedSuite(authn: settings) { pki, logs, ports, roles in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let base = "https://localhost:\(ports.authn)"
                let create = try await call(anonymous, "\(base)/v2/roles", method: .POST, body: #"{"roleId": "anon", "name": "anon"}"#)
                #expect(create.status == 403, "\(create.text)")
                #expect(try await call(anonymous, "\(base)/v2/audit-log").status == 403)
                for _ in 0..<20 {
                    let me = try await call(anonymous, "\(base)/v2/authentication/me")
                    #expect(me.status == 200, "\(me.text)")
                    #expect(try me.principal().authenticationMethod == .anonymous)
                    #expect(try me.principal().roles == [])
                    #expect(me.headers["set-cookie"] == nil, "no session per anonymous request")
                }
            }
            #expect(logs.all.filter { $0.contains("Service-account sign-in for anonymous callers") }.count == 1)
            #expect(logs.all.contains { $0.contains("requests without credentials are let in as anonymous callers with no roles") })
            #expect(try await roles.store.load().roles.contains { $0.id == "anon" } == false)
        }
    }

    @Test func anonymousRolesAreConfiguredAndNeverAdmin() async throws {
        let settings = [
            "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true", "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true",
            "CAMUNDA_TOKEN_ISSUER_URL": "auto", "CAMUNDA_SECURITY_AUTHENTICATION_ANONYMOUS_ROLES": "viewer",
            "CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES": "viewer",
        ]
        try await withHardenedSuite(authn: settings) { pki, _, ports, _ in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let base = "https://localhost:\(ports.authn)"
                let me = try await call(anonymous, "\(base)/v2/authentication/me")
                #expect(try me.principal().roles == ["viewer"])
                #expect(try await call(anonymous, "\(base)/v2/roles/search", method: .POST, body: "{}").status == 200)
                #expect(try await call(anonymous, "\(base)/v2/roles", method: .POST, body: #"{"roleId": "a", "name": "a"}"#).status == 403)
            }
        }

        // authn does not start when anonymous callers would be admins.
        let pki = try TestPKI()
        defer { pki.remove() }
        var environment = AuthnFixtures.environment(pki: pki, emulatorPort: 1, extra: settings)
        environment["CAMUNDA_TOKEN_ISSUER_URL"] = "https://localhost:1"
        for roles in ["admin", "viewer,admin"] {
            environment["CAMUNDA_SECURITY_AUTHENTICATION_ANONYMOUS_ROLES"] = roles
            #expect {
                _ = try AuthnConfiguration(environment: EnvironmentReader(environment))
            } throws: { error in
                (error as? ConfigurationError)?.variable == "CAMUNDA_SECURITY_AUTHENTICATION_ANONYMOUS_ROLES"
            }
        }
        environment["CAMUNDA_SECURITY_AUTHENTICATION_ANONYMOUS_ROLES"] = "operator"
        environment["CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES"] = "operator"
        #expect(throws: ConfigurationError.self) { try AuthnConfiguration(environment: EnvironmentReader(environment)) }
        environment["CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES"] = "admin,two words"
        #expect {
            _ = try AuthnConfiguration(environment: EnvironmentReader(environment))
        } throws: { error in
            (error as? ConfigurationError)?.variable == "CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES"
        }
    }

    /// Sessions are bounded: the oldest is evicted beyond the cap, and creation is rate-limited.
    @Test func sessionsAreCappedAndTheirCreationRateLimited() async throws {
        let authentication = Authentication(
            principal: PrincipalResponse(principal: "p", authenticationMethod: .oidc, roles: [], authorities: []),
            expiresAt: Date().addingTimeInterval(600), credential: "kid=k")
        let capped = SessionManager(
            store: nil, settings: SessionSettings(maximumCount: 10, creationRate: 1000, creationBurst: 1000),
            logger: Logger(label: "test"))
        var cookies: [String] = []
        for _ in 0..<25 { cookies.append(try await capped.create(authentication).cookie) }
        #expect(await capped.memoryCount == 10)
        #expect(try await capped.lookup(cookie: cookies[0]) == nil, "the oldest session was evicted")
        #expect(try await capped.lookup(cookie: cookies[24]) != nil)

        let limited = SessionManager(
            store: nil, settings: SessionSettings(creationRate: 1, creationBurst: 5), logger: Logger(label: "test"))
        let now = Date()
        for _ in 0..<5 { _ = try await limited.create(authentication, now: now) }
        await #expect(throws: SessionLimitError.self) { try await limited.create(authentication, now: now) }
        _ = try await limited.create(authentication, now: now.addingTimeInterval(1.5))
    }
}
