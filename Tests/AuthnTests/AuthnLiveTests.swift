import _CryptoExtras
import AsyncHTTPClient
import Authn
import AuthProtocol
import DevPKI
import EntraEmulator
import Foundation
import Keystore
import Logging
import NIOCore
import NIOHTTP1
import Roles
import ServiceSupport
import Settings
import SwiftASN1
import Testing
import TestSupport
import TokenIssuer
import WireFormat
import X509

/// authn in process on port 0 with the emulator and token-issuer: real TLS, HTTP/2 and client certificates.
@Suite(.serialized)
struct AuthnLiveTests {
    /// Runs emulator + token-issuer + authn (with `extra` settings) and hands their ports to `body`.
    func withSuite(
        roles: [String: String]? = nil,
        extra: @escaping @Sendable (TestPKI) throws -> [String: String] = { _ in [:] },
        _ body: @Sendable (TestPKI, CapturedLogs, SuitePorts) async throws -> Void
    ) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        guard let roles else {
            try await withSuite(pki: pki, logs: logs, rolesPort: nil, extra: extra, body)
            return
        }
        let rolesInstance = try await RolesApplication.build(
            configuration: try RolesConfiguration(environment: EnvironmentReader(pki.rolesEnvironment(
                database: ["CAMUNDA_DATABASE_URL": pki.path("roles.sqlite")], extra: roles))),
            logger: logs.logger("roles"))
        try await withServices(rolesInstance.services, logger: logs.logger("group")) {
            try await withSuite(pki: pki, logs: logs, rolesPort: await rolesInstance.port.port(), extra: extra, body)
        }
    }

    func withSuite(
        pki: TestPKI, logs: CapturedLogs, rolesPort: Int?,
        extra: @escaping @Sendable (TestPKI) throws -> [String: String],
        _ body: @Sendable (TestPKI, CapturedLogs, SuitePorts) async throws -> Void
    ) async throws {
        let emulator = try await AuthnFixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await AuthnFixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let issuerPort = await issuer.port.port()
                var settings = try extra(pki)
                if let rolesPort { settings["CAMUNDA_ROLES_URL"] = "https://localhost:\(rolesPort)" }
                if settings["CAMUNDA_TOKEN_ISSUER_URL"] == "auto" { settings["CAMUNDA_TOKEN_ISSUER_URL"] = "https://localhost:\(issuerPort)" }
                let authn = try await AuthnFixtures.authn(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: settings)
                try await withServices(authn.services, logger: logs.logger("group")) {
                    let ports = SuitePorts(
                        emulator: emulatorPort, issuer: issuerPort, authn: await authn.port.port(),
                        management: await authn.managementPort.port(), emulatorInstance: emulator)
                    try await body(pki, logs, ports)
                }
            }
        }
        for line in logs.all {
            #expect(!line.contains(TestPKI.password))
            #expect(!line.contains("PRIVATE KEY"))
            #expect(!line.contains("eyJ"), "a log line holds a JWT: \(line.prefix(200))")
        }
    }

    @Test func bearerTokenFromTheSuiteAnswersWhoIsCalling() async throws {
        try await withSuite { pki, _, ports in
            try await withClient(try pki.workloadClient()) { internalClient in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
            let token = try await suiteToken(internalClient, issuerPort: ports.issuer)
            let me = try await call(anonymous, "https://localhost:\(ports.authn)/v2/authentication/me", headers: [("authorization", "Bearer \(token)")])
            #expect(me.status == 200, "\(me.text)")
            let principal = try me.principal()
            #expect(principal.principal == TestPKI.clientID)
            #expect(principal.authenticationMethod == .oidc)
            #expect(principal.clientID == TestPKI.clientID)
            #expect(principal.tenantID == TestPKI.tenantID)
            #expect(principal.roles == ["Admin", "Reader"])
            #expect(principal.expiresAt != nil)
            #expect(!me.text.contains(token))

            let forward = try await call(anonymous, "https://localhost:\(ports.authn)/v1/forward-auth", headers: [("authorization", "Bearer \(token)")])
            #expect(forward.status == 200)
            // RFC 8941 structured fields (DESIGN.md §3): the principal an Item, the roles a List of Strings.
            #expect(forward.headers["x-auth-principal"] == "\"\(TestPKI.clientID)\"")
            #expect(forward.headers["x-auth-roles"] == #""Admin", "Reader""#)
            #expect(forward.headers["x-auth-admin"] == nil, "Admin is not an admin role unless CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES says so")
            #expect(forward.headers["x-auth-method"] == "oidc")

            let required = try await expectOneDecision(anonymous, management: ports.management, method: "oidc", result: "forbidden", "role") {
                try await call(anonymous, "https://localhost:\(ports.authn)/v1/forward-auth",
                               headers: [("authorization", "Bearer \(token)"), ("x-auth-require-role", "Auditor")])
            }
            #expect(required.status == 403)
            #expect(required.text.contains(#""reason":"role_missing""#), "\(required.text)")

            let internalCheck = try await call(internalClient, "https://localhost:\(ports.authn)/v1/authenticate", method: .POST,
                                               body: #"{"token": "\#(token)"}"#)
            #expect(internalCheck.status == 200)
            #expect(try internalCheck.principal().principal == TestPKI.clientID)
            let notInternal = try await expectOneDecision(anonymous, management: ports.management, method: "mtls", result: "forbidden", "not internal") {
                try await call(anonymous, "https://localhost:\(ports.authn)/v1/authenticate", method: .POST, body: #"{"token": "\#(token)"}"#)
            }
            #expect(notInternal.status == 403)
            #expect(notInternal.text.contains(#""reason":"caller_certificate_missing""#), "\(notInternal.text)")
            }
            }
        }
    }

    @Test func badTokensAreRefusedWith401AndAReason() async throws {
        try await withSuite { pki, _, ports in
            try await withClient(try pki.workloadClient()) { internalClient in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
            let token = try await suiteToken(internalClient, issuerPort: ports.issuer)
            let parts = token.split(separator: ".").map(String.init)
            let header = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT","kid":"x"}"#.utf8))
            var tamperedClaims = try JSONDecoder().decode([String: JSONValue].self, from: Data(Base64URL.decode(parts[1]) ?? []))
            tamperedClaims["roles"] = .array([.string("Admin"), .string("SuperAdmin")])
            let tamperedPayload = Base64URL.encode(try JSONEncoder().encode(tamperedClaims))
            let unknownKid = Base64URL.encode(Array(#"{"alg":"RS256","typ":"JWT","kid":"not-a-key-of-the-idp"}"#.utf8))
            let cases: [(String, String, String, String)] = [
                ("garbage", "Bearer not-a-jwt", "", "token_malformed"),
                ("alg none", "Bearer \(header).\(parts[1]).", "", "token_algorithm_unsupported"),
                ("tampered claims", "Bearer \(parts[0]).\(tamperedPayload).\(parts[2])", "", "token_signature_invalid"),
                ("unknown kid", "Bearer \(unknownKid).\(parts[1]).\(parts[2])", "not-a-key-of-the-idp", "token_kid_unknown"),
                ("basic scheme", "Basic dXNlcjpwYXNz", "Bearer", "authorization_scheme_unsupported"),
            ]
            for (name, authorization, mention, reason) in cases {
                // Each refusal moves exactly one decision counter, the one of the body's reason (issue 18).
                let answer = try await expectOneDecision(anonymous, management: ports.management, method: "oidc", result: "unauthenticated", name) {
                    try await call(anonymous, "https://localhost:\(ports.authn)/v2/authentication/me", headers: [("authorization", authorization)])
                }
                #expect(answer.status == 401, "\(name): \(answer.status) \(answer.text)")
                #expect(answer.text.contains("\"reason\":\"\(reason)\""), "\(name): \(answer.text)")
                let challenge = answer.headers["www-authenticate"] ?? ""
                #expect(challenge.contains("error=\"invalid_token\""), "\(name): \(challenge)")
                #expect(challenge.contains("error_description="), "\(name)")
                #expect(mention.isEmpty || challenge.contains(mention), "\(name): \(challenge)")
                #expect(!answer.text.contains(parts[2]), "\(name): the body echoes the token")
            }
            // An oversized token (in a body: HTTP/2 limits a header list to 16 KiB before authn sees it).
            let oversized = try await expectOneDecision(anonymous, management: ports.management, method: "oidc", result: "unauthenticated", "oversized") {
                try await call(internalClient, "https://localhost:\(ports.authn)/v1/authenticate", method: .POST,
                               body: #"{"token": "\#(String(repeating: "a", count: 40_000))"}"#)
            }
            #expect(oversized.status == 401)
            #expect(oversized.text.contains(#""reason":"token_too_large""#), "\(oversized.text)")
            #expect(oversized.headers["www-authenticate"]?.contains("over the limit") == true, "\(oversized.headers)")
            let none = try await expectOneDecision(anonymous, management: ports.management, method: "none", result: "unauthenticated", "no credentials") {
                try await call(anonymous, "https://localhost:\(ports.authn)/v2/authentication/me")
            }
            #expect(none.status == 401)
            #expect(none.text.contains(#""reason":"credentials_missing""#), "\(none.text)")
            // An accepted caller is a decision too: ok, by method; the third call is answered by the lean path (the
            // answer kept with its verdict at the token's first repeat) and counts as well.
            let accepted = try await DecisionSeries.scrape(anonymous, management: ports.management)
            for _ in 0..<3 {
                let me = try await call(anonymous, "https://localhost:\(ports.authn)/v2/authentication/me", headers: [("authorization", "Bearer \(token)")])
                #expect(me.status == 200)
            }
            let changes = try await DecisionSeries.scrape(anonymous, management: ports.management).changes(since: accepted)
            #expect(changes.map(\.series) == [#"certauth_authn_decisions_total{method="oidc",result="accepted",reason="ok"}"#], "\(changes)")
            #expect(changes.first?.by == 3, "\(changes)")
            #expect(none.headers["www-authenticate"]?.hasPrefix("Bearer realm=\"certauth\"") == true)
            }
            }
        }
    }

    @Test func aTokenSignedWithARotatedKeyIsAcceptedOnTheFirstRequest() async throws {
        try await withSuite { pki, _, ports in
            try await withClient(try pki.workloadClient()) { internalClient in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            let before = try await freshEmulatorToken(internalClient, issuerPort: ports.issuer, emulatorPort: ports.emulator)
            #expect(try await call(anonymous, url, headers: [("authorization", "Bearer \(before)")]).status == 200)
            _ = try await ports.emulatorInstance.keys.rotate(keepPrevious: false)
            let after = try await freshEmulatorToken(internalClient, issuerPort: ports.issuer, emulatorPort: ports.emulator)
            let answer = try await call(anonymous, url, headers: [("authorization", "Bearer \(after)")])
            #expect(answer.status == 200, "\(answer.text)")
            }
            }
        }
    }

    @Test func clientCertificatesFromTheTrustedCAAreAuthenticatedAndBadOnesRefusedWithAReason() async throws {
        try await withSuite { pki, _, ports in
            let ca = try AuthnFixtures.ca(pki)
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            try await withClient(try pki.client()) { good in
                let me = try await call(good, url)
                #expect(me.status == 200, "\(me.text)")
                #expect(try me.principal().principal == "client")
                #expect(try me.principal().authenticationMethod == .mtls)
                #expect(try me.principal().roles == ["ROLE_USER"])
            }

            let otherCA = try DevPKI.makeCA(commonName: "Somebody Else's CA")
            let now = Date()
            let cases: [(String, IssuedCertificate, String)] = [
                ("expired", try DevPKI.issue(subject: try DistinguishedName { CommonName("old") }, usage: .client, issuer: ca,
                                             notValidBefore: now.addingTimeInterval(-86_400 * 30), notValidAfter: now.addingTimeInterval(-86_400)), "expired"),
                ("wrong CA", try DevPKI.issue(subject: try DistinguishedName { CommonName("stranger") }, usage: .client, issuer: otherCA), "trusted"),
                ("serverAuth only", try DevPKI.issue(subject: try DistinguishedName { CommonName("server-only") }, usage: .server, issuer: ca), "clientAuth"),
            ]
            let reasons = ["expired": "certificate_expired", "wrong CA": "certificate_untrusted", "serverAuth only": "certificate_wrong_purpose"]
            for (name, certificate, mention) in cases {
                try await withClient(try AuthnFixtures.client(pki: pki, leaf: certificate)) { client in
                    let answer = try await expectOneDecision(client, management: ports.management, method: "mtls", result: "unauthenticated", name) {
                        try await call(client, url)
                    }
                    #expect(answer.status == 401, "\(name): \(answer.status) \(answer.text)")
                    #expect(answer.text.contains("\"reason\":\"\(reasons[name] ?? "?")\""), "\(name): \(answer.text)")
                    let challenge = answer.headers["www-authenticate"] ?? ""
                    #expect(challenge.contains(mention), "\(name): \(challenge)")
                }
            }
        }
    }

    @Test func theSeedsIntermediaryCertificateSchemeAndForwardedCertificatesFromATrustedProxy() async throws {
        try await withSuite(extra: { pki in
            // root CA → shared intermediary → component certificates (the second seed's Option 1)
            let root = try DevPKI.makeCA(commonName: "Seed Root CA")
            let intermediary = try DevPKI.issue(subject: try DistinguishedName { CommonName("zeebe-intermediary") }, issuer: root, isCA: true)
            let component = try DevPKI.issue(subject: try DistinguishedName {
                CountryName("DE"); OrganizationName("Camunda"); OrganizationalUnitName("Operate"); CommonName("operate")
            }, usage: .client, issuer: intermediary)
            let proxy = try DevPKI.issue(subject: try DistinguishedName { CommonName("nginx") }, usage: .client, issuer: try AuthnFixtures.ca(pki))
            _ = try AuthnFixtures.write(try root.pem, pki, "seed-root.pem")
            _ = try AuthnFixtures.write(try intermediary.pem, pki, "seed-intermediary.pem")
            _ = try AuthnFixtures.write(try component.pem, pki, "operate.pem")
            _ = try AuthnFixtures.write(component.keyPEM, pki, "operate.key")
            _ = try AuthnFixtures.write(try proxy.pem, pki, "nginx.pem")
            _ = try AuthnFixtures.write(proxy.keyPEM, pki, "nginx.key")
            return [
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "\(pki.path("truststore.pem")),\(pki.path("seed-root.pem"))",
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES": pki.path("nginx.pem"),
                // nginx forwards only the leaf: the operator configures the intermediary (a client's own chain helps
                // only its own connection).
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_INTERMEDIATECERTIFICATES": pki.path("seed-intermediary.pem"),
            ]
        }) { pki, _, ports in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            let intermediary = try IssuedCertificate.load(pki, "seed-intermediary.pem", key: nil)
            let component = try IssuedCertificate.load(pki, "operate.pem", key: "operate.key")
            let proxy = try IssuedCertificate.load(pki, "nginx.pem", key: "nginx.key")

            try await withClient(try AuthnFixtures.client(pki: pki, leaf: component, chain: [intermediary])) { withChain in
                let me = try await call(withChain, url)
                #expect(me.status == 200, "\(me.text)")
                #expect(try me.principal().principal == "operate")
            }

            let escaped = try component.pem.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            try await withClient(try AuthnFixtures.client(pki: pki, leaf: proxy)) { proxyClient in
            let forwarded = try await call(proxyClient, "https://localhost:\(ports.authn)/v1/forward-auth", headers: [("x-ssl-client-cert", escaped)])
            #expect(forwarded.status == 200, "\(forwarded.text)")
            #expect(forwarded.headers["x-auth-principal"] == #""operate""#)
            #expect(forwarded.headers["x-auth-method"] == "mtls")
            // The proxy's own certificate never stands in for a client.
            let bare = try await call(proxyClient, "https://localhost:\(ports.authn)/v1/forward-auth")
            #expect(bare.status == 401)
            }

            try await withClient(try pki.client()) { notAProxy in
            let spoofed = try await call(notAProxy, "https://localhost:\(ports.authn)/v1/forward-auth", headers: [("x-ssl-client-cert", escaped)])
            #expect(spoofed.status == 401)
            #expect(spoofed.headers["www-authenticate"]?.contains("trusted proxy") == true)
            }
        }
    }

    @Test func theSeedsRequestFlowSignsInTheServiceIdentityOnceForEveryAnonymousCaller() async throws {
        try await withSuite(extra: { _ in [
            "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true",
            "CAMUNDA_TOKEN_ISSUER_URL": "auto",
        ] }) { pki, logs, ports in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            for _ in 0..<4 {
                let answer = try await call(anonymous, url)
                #expect(answer.status == 200, "\(answer.text)")
                #expect(try answer.principal().authenticationMethod == .anonymous)
                #expect(try answer.principal().principal == TestPKI.clientID)
                #expect(try answer.principal().roles == [], "the service identity's roles (Admin, Reader) are not handed out")
                #expect(answer.headers["set-cookie"] == nil)
            }
            #expect(logs.all.filter { $0.contains("Service-account sign-in for anonymous callers") }.count == 1)
            let bogus = try await call(anonymous, url, headers: [("cookie", "CERTAUTH_SESSION=forged")])
            #expect(bogus.status == 200)
            #expect(try bogus.principal().authenticationMethod == .anonymous, "a forged cookie is no session")
            }
        }
    }
    @Test func rolesResolvedByTheRolesServiceAndTheV2APIThroughAuthn() async throws {
        try await withSuite(roles: ["INITIAL_CLAIM_NAME": "azp", "INITIAL_CLAIM_VALUE": TestPKI.clientID],
                            extra: { _ in ["CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES": "operator"] }) { pki, logs, ports in
            let base = "https://localhost:\(ports.authn)"
            let token = try await withClient(try pki.workloadClient()) { try await suiteToken($0, issuerPort: ports.issuer) }
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let bearer = [("authorization", "Bearer \(token)")]
                let me = try await call(anonymous, "\(base)/v2/authentication/me", headers: bearer)
                #expect(me.status == 200, "\(me.text)")
                #expect(try me.principal().roles == ["Admin", "Reader", "admin"], "the initial claim grants admin")

                // The admin writes a role and a subject rule through authn; roles stores them.
                let role = try await call(anonymous, "\(base)/v2/roles", method: .POST, headers: bearer,
                                          body: #"{"roleId": "operator", "name": "Operator", "description": "runs things"}"#)
                #expect(role.status == 201, "\(role.text)")
                let rule = try await call(anonymous, "\(base)/v2/mapping-rules", method: .POST, headers: bearer,
                                          body: #"{"mappingRuleId": "dev-client", "kind": "subject_dn_regex", "claimValue": "CN=client(, .*)?", "name": "dev client"}"#)
                #expect(rule.status == 201, "\(rule.text)")
                let assign = try await call(anonymous, "\(base)/v2/roles/operator/mapping-rules/dev-client", method: .PUT, headers: bearer)
                #expect((200..<300).contains(assign.status), "\(assign.text)")
                let search = try await call(anonymous, "\(base)/v2/mapping-rules/search", method: .POST, headers: bearer, body: "{}")
                #expect(search.status == 200)
                #expect(search.text.contains("dev-client"))
            }
            try await withClient(try pki.client()) { certificate in
                let me = try await call(certificate, "\(base)/v2/authentication/me")
                #expect(me.status == 200, "\(me.text)")
                #expect(try me.principal().roles == ["ROLE_USER", "operator"])
                // Not an admin: reads pass (operator is a reader role here), writes are refused by authn.
                #expect(try await call(certificate, "\(base)/v2/roles/search", method: .POST, body: "{}").status == 200)
                let write = try await call(certificate, "\(base)/v2/roles", method: .POST,
                                           body: #"{"roleId": "mine", "name": "Mine"}"#)
                #expect(write.status == 403)
                #expect(write.headers["content-type"] == "application/problem+json")
            }
            let audit = logs.all.filter { $0.contains("admin_role_granted") }
            #expect(audit.contains { $0.contains(TestPKI.clientID) }, "granting admin is logged as a security audit warning")
        }
    }

    @Test func theSharedAnonymousSignInSurvivesAnAuthnRestartWithPersistentSessions() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await AuthnFixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await AuthnFixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let settings = [
                    "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true", "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true",
                    "CAMUNDA_TOKEN_ISSUER_URL": "https://localhost:\(await issuer.port.port())",
                    "CAMUNDA_PERSISTENT_SESSIONS_ENABLED": "true", "CAMUNDA_DATABASE_URL": pki.path("sessions.sqlite"),
                ]
                for round in 0..<2 {
                    let instance = try await AuthnFixtures.authn(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: settings)
                    try await withServices(instance.services, logger: logs.logger("group")) {
                        try await withClient(try pki.client(withCertificate: false)) { anonymous in
                            let answer = try await call(anonymous, "https://localhost:\(await instance.port.port())/v2/authentication/me")
                            #expect(answer.status == 200, "round \(round): \(answer.text)")
                            #expect(try answer.principal().authenticationMethod == .anonymous)
                        }
                    }
                }
                #expect(logs.all.filter { $0.contains("Service-account sign-in for anonymous callers") }.count == 1)
                #expect(logs.all.contains { $0.contains("Anonymous sign-in reused from the session store") })
            }
        }
    }
}

struct SuitePorts: Sendable {
    var emulator: Int
    var issuer: Int
    var authn: Int
    var management: Int
    var emulatorInstance: EmulatorInstance

    init(emulator: Int, issuer: Int, authn: Int, management: Int, emulatorInstance: EmulatorInstance) {
        self.emulator = emulator
        self.issuer = issuer
        self.authn = authn
        self.management = management
        self.emulatorInstance = emulatorInstance
    }
}

extension IssuedCertificate {
    static func load(_ pki: TestPKI, _ certificate: String, key: String?) throws -> IssuedCertificate {
        let parsed = try Certificate(pemEncoded: String(contentsOfFile: pki.path(certificate), encoding: .utf8))
        let privateKey = try key.map { try _RSA.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: pki.path($0), encoding: .utf8)) }
            ?? _RSA.Signing.PrivateKey(keySize: .bits2048)
        return IssuedCertificate(certificate: parsed, key: privateKey)
    }
}
