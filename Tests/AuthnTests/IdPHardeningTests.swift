import AsyncHTTPClient
import Authn
import AuthProtocol
import ClientAssertion
import JOSE
import EntraEmulator
import Foundation
import HTTPTypes
import Hummingbird
import Keystore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import ServiceSupport
import Settings
import Testing
import TestSupport
import TokenIssuer
import TokenValidation
import WireFormat

/// Issue 15, item 6, against live in-process services: plain-http key material and token endpoints, a cached token
/// whose key left the JWKS, the maximum token lifetime, ID tokens, multi-tenant issuers, the emulator's test hooks.
@Suite(.serialized)
struct IdPHardeningTests {
    struct IdP: Sendable {
        var emulator: EmulatorInstance
        var emulatorPort: Int
        var issuerPort: Int
        var issuer: String { "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/v2.0" }
    }

    /// The emulator and token-issuer, running while `body` runs.
    func withIdP(_ body: @Sendable (TestPKI, CapturedLogs, IdP) async throws -> Void) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await AuthnFixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await AuthnFixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
            try await withServices(issuer.services, logger: logs.logger("group")) {
                try await body(pki, logs, IdP(emulator: emulator, emulatorPort: emulatorPort, issuerPort: await issuer.port.port()))
            }
        }
    }

    /// authn (emulator as IdP, `extra` settings) running while `body` runs with its port.
    func withAuthn(_ pki: TestPKI, _ logs: CapturedLogs, _ idp: IdP, extra: [String: String] = [:],
                   _ body: @Sendable (Int) async throws -> Void) async throws {
        let authn = try await AuthnFixtures.authn(pki: pki, logs: logs, emulatorPort: idp.emulatorPort, extra: extra)
        try await withServices(authn.services, logger: logs.logger("group")) {
            try await body(await authn.port.port())
        }
    }

    func me(_ client: HTTPClient, _ authnPort: Int, _ token: String) async throws -> Answer {
        try await call(client, "https://localhost:\(authnPort)/v2/authentication/me", headers: [("authorization", "Bearer \(token)")])
    }

    /// A plain-HTTP server on loopback answering `GET /.well-known/openid-configuration` with `discovery`.
    func withDiscovery(_ discovery: String, _ body: @Sendable (Int) async throws -> Void) async throws {
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: discovery)))
        }
        let port = PortHandle()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { port.fulfil($0.localAddress?.port ?? 0) }, logger: Logger(label: "fake-idp"))
        try await withServices([app], logger: Logger(label: "fake-idp")) {
            try await body(await port.port())
        }
    }

    // MARK: - (a) HTTPS for key material and the token endpoint

    static let authnBase = ["SERVER_SSL_KEY_STORE": "/certs/authn.p12", "SERVER_SSL_TRUST_STORE": "/certs/truststore.pem",
                            "CAMUNDA_IDENTITY_AUDIENCE": "api", "CAMUNDA_IDENTITY_TYPE": "GENERIC"]

    func authnConfiguration(_ values: [String: String]) throws -> AuthnConfiguration {
        try AuthnConfiguration(environment: EnvironmentReader(Self.authnBase.merging(values) { $1 }))
    }

    @Test func authnRefusesPlainHTTPKeyMaterialAtStartWithTheFix() throws {
        let refused: [([String: String], String)] = [
            (["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI": "http://idp.example/keys", "CAMUNDA_IDENTITY_ISSUER": "https://idp.example"],
             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI: 'http://idp.example/keys' is plain http"),
            (["CAMUNDA_IDENTITY_ISSUER": "http://keycloak.example/realms/camunda"],
             "CAMUNDA_IDENTITY_ISSUER: 'http://keycloak.example/realms/camunda' is plain http"),
            (["CAMUNDA_IDENTITY_ISSUER": "http://127.0.0.1.nip.io/realms/camunda"], "CAMUNDA_IDENTITY_ISSUER: "),
        ]
        for (values, start) in refused {
            do {
                _ = try authnConfiguration(values)
                Issue.record("accepted \(values)")
            } catch {
                let line = "\(error)"
                #expect(line.hasPrefix(start), "\(line)")
                #expect(line.contains("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ALLOW_INSECURE_HTTP=true"), "\(line)")
                #expect(!line.contains("\n"))
            }
        }
        let accepted: [[String: String]] = [
            ["CAMUNDA_IDENTITY_ISSUER": "http://localhost:8080/realms/camunda"],
            ["CAMUNDA_IDENTITY_ISSUER": "http://127.1.2.3:8080/realms/camunda"],
            ["CAMUNDA_IDENTITY_ISSUER": "http://[::1]:8080/realms/camunda"],
            ["CAMUNDA_IDENTITY_ISSUER": "https://idp.example/realms/camunda"],
            // The issuer is only compared with iss when the JWKS has its own (https) URI.
            ["CAMUNDA_IDENTITY_ISSUER": "http://keycloak:8080/realms/camunda",
             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI": "https://keycloak.example/realms/camunda/protocol/openid-connect/certs"],
            ["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI": "http://idp.example/keys", "CAMUNDA_IDENTITY_ISSUER": "https://idp.example",
             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ALLOW_INSECURE_HTTP": "true"],
        ]
        for values in accepted {
            do {
                _ = try authnConfiguration(values)
            } catch {
                Issue.record("refused \(values): \(error)")
            }
        }
        #expect(try authnConfiguration(accepted[5]).oidc?.allowInsecureHTTP == true)
    }

    @Test func tokenIssuerRefusesAPlainHTTPTokenEndpointAtStart() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        func configuration(_ extra: [String: String]) throws -> TokenIssuerConfiguration {
            try TokenIssuerConfiguration(environment: EnvironmentReader(pki.tokenIssuerEnvironment(emulatorPort: 9443, extra: extra)))
        }
        let refused: [([String: String], String)] = [
            (["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI": "http://idp.example/oauth2/v2.0/token"],
             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI: 'http://idp.example/oauth2/v2.0/token' is plain http"),
            (["CAMUNDA_IDENTITY_ISSUER_BACKEND_URL": "http://idp.example/tenant/v2.0"],
             "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL: 'http://idp.example/tenant/v2.0' is plain http"),
        ]
        for (extra, start) in refused {
            do {
                _ = try configuration(extra)
                Issue.record("accepted \(extra)")
            } catch {
                #expect("\(error)".hasPrefix(start), "\(error)")
                #expect("\(error)".contains("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ALLOW_INSECURE_HTTP=true"))
            }
        }
        _ = try configuration(["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI": "http://127.0.0.1:8080/token"])
        let allowed = try configuration([
            "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL": "http://idp.example/tenant/v2.0",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ALLOW_INSECURE_HTTP": "true",
        ])
        #expect(allowed.allowInsecureHTTP)
    }

    @Test func authnDoesNotFollowAPlainHTTPJWKSURIFromDiscovery() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        try await withDiscovery(#"{"issuer":"http://idp.example","jwks_uri":"http://idp.example/keys"}"#) { port in
            var configuration = try AuthnConfiguration(environment: EnvironmentReader(AuthnFixtures.environment(
                pki: pki, emulatorPort: 0, extra: ["CAMUNDA_IDENTITY_TYPE": "GENERIC", "CAMUNDA_IDENTITY_ISSUER": "http://127.0.0.1:\(port)"])))
            configuration.oidc?.jwksFetchTimeout = .seconds(30)
            let authn = try await AuthnApplication.build(configuration: configuration, logger: logs.logger("authn"))
            let keys = try #require(authn.keys)
            try await withServices(authn.services, logger: logs.logger("group")) {
                var lastError: String?
                for _ in 0..<300 where lastError == nil {
                    lastError = await keys.status.lastError
                    if lastError == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                let error = try #require(lastError)
                #expect(error.contains("names jwks_uri 'http://idp.example/keys', plain http"), "\(error)")
                #expect(await keys.status.keyCount == 0)
            }
        }
    }

    @Test func tokenIssuerDoesNotPostCredentialsToAPlainHTTPTokenEndpointFromDiscovery() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let document = #"{"issuer":"http://idp.example","token_endpoint":"http://idp.example/oauth2/v2.0/token","jwks_uri":"https://idp.example/keys"}"#
        try await withDiscovery(document) { port in
            let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(pki.tokenIssuerEnvironment(
                emulatorPort: 0, extra: ["CAMUNDA_IDENTITY_TYPE": "GENERIC", "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL": "http://127.0.0.1:\(port)"])))
            let issuer = try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
            try await withServices(issuer.services, logger: logs.logger("group")) {
                try await withClient(try pki.workloadClient()) { client in
                    let answer = try await call(client, "https://localhost:\(await issuer.port.port())/v1/token", method: .POST, body: "{}")
                    #expect(answer.status == 502, "\(answer.text)")
                    #expect(answer.text.contains("plain http"), "\(answer.text)")
                }
            }
        }
    }

    // MARK: - (b) a cached token whose key left the JWKS

    @Test func aCachedTokenIsRefusedOneRefreshAfterItsKeyLeftTheJWKS() async throws {
        try await withIdP { pki, logs, idp in
            try await withAuthn(pki, logs, idp) { authn in
                try await withClient(try pki.workloadClient()) { internalClient in
                try await withClient(try pki.client(withCertificate: false)) { anonymous in
                    let old = try await freshEmulatorToken(internalClient, issuerPort: idp.issuerPort, emulatorPort: idp.emulatorPort)
                    #expect(try await me(anonymous, authn, old).status == 200)
                    #expect(try await me(anonymous, authn, old).status == 200, "answered from the verified-token cache")
                    _ = try await idp.emulator.keys.rotate(keepPrevious: false)
                    // A token of the new key makes authn refresh its JWKS once; the old key is gone from it.
                    let new = try await freshEmulatorToken(internalClient, issuerPort: idp.issuerPort, emulatorPort: idp.emulatorPort)
                    #expect(try await me(anonymous, authn, new).status == 200)
                    let answer = try await me(anonymous, authn, old)
                    #expect(answer.status == 401, "the cached verdict outlived its key: \(answer.text)")
                    #expect(answer.headers["www-authenticate"]?.contains("is not in the IdP's JWKS") == true, "\(answer.headers)")
                }
                }
            }
        }
    }

    // MARK: - (c) maximum token lifetime

    @Test func tokensLivingLongerThanTheConfiguredMaximumAreRefusedWithTheReason() async throws {
        try await withIdP { pki, logs, idp in
            try await withAuthn(pki, logs, idp, extra: ["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_TOKEN_LIFETIME": "600"]) { authn in
                try await withClient(try pki.workloadClient()) { internalClient in
                try await withClient(try pki.client(withCertificate: false)) { anonymous in
                    // The emulator's tokens live 3599 s.
                    let token = try await freshEmulatorToken(internalClient, issuerPort: idp.issuerPort, emulatorPort: idp.emulatorPort)
                    let answer = try await me(anonymous, authn, token)
                    #expect(answer.status == 401)
                    #expect(answer.headers["www-authenticate"]?.contains("maximum token lifetime of 600 s") == true, "\(answer.headers)")
                }
                }
            }
        }
    }

    // MARK: - (d) ID tokens

    @Test func anIDTokenSignedByTheIdPForThisAPIIsRefused() async throws {
        try await withIdP { pki, logs, idp in
            try await withAuthn(pki, logs, idp) { authn in
                try await withClient(try pki.client(withCertificate: false)) { anonymous in
                    let key = await idp.emulator.keys.signingKey()
                    let now = Date().timeIntervalSince1970.rounded()
                    let claims: [String: JSONValue] = [
                        "iss": .string(idp.issuer), "aud": .string(TestPKI.apiID), "azp": .string(TestPKI.clientID),
                        "tid": .string(TestPKI.tenantID), "sub": .string("user-1"), "iat": .number(now), "nbf": .number(now),
                        "exp": .number(now + 600), "ver": .string("2.0"),
                    ]
                    func sign(_ extra: [String: JSONValue], typ: String = "JWT") throws -> String {
                        try JWS.sign(header: JOSEHeader(alg: "RS256", typ: typ, kid: key.kid), claims: claims.merging(extra) { $1 },
                                     key: .rsa(key.privateKey))
                    }
                    #expect(try await me(anonymous, authn, try sign([:])).status == 200, "the same token without ID-token claims passes")
                    for (name, token) in [
                        ("nonce", try sign(["nonce": .string("n-0S6_WzA2Mj")])),
                        ("at_hash", try sign(["at_hash": .string("77QmUPtjPfzWtF2AnpK9RQ")])),
                    ] {
                        let answer = try await me(anonymous, authn, token)
                        #expect(answer.status == 401, "\(name)")
                        #expect(answer.headers["www-authenticate"]?.contains("an ID token is not an access token") == true, "\(answer.headers)")
                    }
                    let wrongType = try await me(anonymous, authn, try sign([:], typ: "id_token+jwt"))
                    #expect(wrongType.status == 401)
                    #expect(wrongType.headers["www-authenticate"]?.contains("typ") == true, "\(wrongType.headers)")
                }
            }
        }
    }

    // MARK: - (e) multi-tenant issuers

    @Test func multiTenantIssuersNeedAnAllowedTenantList() throws {
        for issuer in ["https://login.microsoftonline.com/common/v2.0", "https://login.microsoftonline.com/organizations/v2.0",
                       "https://login.microsoftonline.com/{tenantid}/v2.0"] {
            do {
                _ = try authnConfiguration(["CAMUNDA_IDENTITY_TYPE": "MICROSOFT", "CAMUNDA_IDENTITY_ISSUER": issuer])
                Issue.record("accepted \(issuer) without an allowed tenant list")
            } catch {
                #expect("\(error)".hasPrefix("CAMUNDA_IDENTITY_ALLOWED_TENANTS: is not set but the issuer"), "\(error)")
            }
            let tenant = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
            let oidc = try #require(try authnConfiguration([
                "CAMUNDA_IDENTITY_TYPE": "MICROSOFT", "CAMUNDA_IDENTITY_ISSUER": issuer, "CAMUNDA_IDENTITY_ALLOWED_TENANTS": tenant,
            ]).oidc)
            #expect(Set(oidc.issuers) == ["https://login.microsoftonline.com/\(tenant)/v2.0", "https://sts.windows.net/\(tenant)/"])
            #expect(oidc.allowedTenants == [tenant])
        }
        #expect(throws: ConfigurationError.self) {
            _ = try authnConfiguration([
                "CAMUNDA_IDENTITY_TYPE": "MICROSOFT", "CAMUNDA_IDENTITY_ISSUER": "https://login.microsoftonline.com/ea952511-6a7f-40b8-af71-6c1be6f0dade/v2.0",
                "CAMUNDA_IDENTITY_ALLOWED_TENANTS": "ea952511-6a7f-40b8-af71-6c1be6f0dade",
            ])
        }
    }

    @Test func aDiscoveryDocumentNamingAMultiTenantIssuerIsRefusedWithoutAnAllowedTenantList() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let document = #"{"issuer":"https://login.microsoftonline.com/{tenantid}/v2.0","jwks_uri":"http://127.0.0.1:9/keys"}"#
        try await withDiscovery(document) { port in
            var configuration = try AuthnConfiguration(environment: EnvironmentReader(AuthnFixtures.environment(
                pki: pki, emulatorPort: 0, extra: ["CAMUNDA_IDENTITY_TYPE": "GENERIC", "CAMUNDA_IDENTITY_ISSUER": "http://127.0.0.1:\(port)"])))
            configuration.oidc?.jwksFetchTimeout = .seconds(30)
            let authn = try await AuthnApplication.build(configuration: configuration, logger: logs.logger("authn"))
            let keys = try #require(authn.keys)
            try await withServices(authn.services, logger: logs.logger("group")) {
                var lastError: String?
                for _ in 0..<300 where lastError == nil {
                    lastError = await keys.status.lastError
                    if lastError == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                let error = try #require(lastError)
                #expect(error.contains("names the multi-tenant issuer"), "\(error)")
                #expect(error.contains("CAMUNDA_IDENTITY_ALLOWED_TENANTS"), "\(error)")
            }
        }
    }

    @Test func aMultiTenantIssuerAcceptsTokensOfAnAllowedTenantOnly() async throws {
        try await withIdP { pki, logs, idp in
            let multiTenant = [
                "CAMUNDA_IDENTITY_ISSUER": "https://localhost:\(idp.emulatorPort)/{tenantid}/v2.0",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI": "https://localhost:\(idp.emulatorPort)/\(TestPKI.tenantID)/discovery/v2.0/keys",
            ]
            try await withClient(try pki.workloadClient()) { internalClient in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let token = try await freshEmulatorToken(internalClient, issuerPort: idp.issuerPort, emulatorPort: idp.emulatorPort)
                try await withAuthn(pki, logs, idp, extra: multiTenant.merging(["CAMUNDA_IDENTITY_ALLOWED_TENANTS": TestPKI.tenantID]) { $1 }) { authn in
                    let answer = try await me(anonymous, authn, token)
                    #expect(answer.status == 200, "\(answer.headers)")
                    #expect(try answer.principal().tenantID == TestPKI.tenantID)
                }
                try await withAuthn(pki, logs, idp, extra: multiTenant.merging(["CAMUNDA_IDENTITY_ALLOWED_TENANTS": "0b4d7f4e-90b5-4a7e-8a9d-2f7c8f3f6b11"]) { $1 }) { authn in
                    let answer = try await me(anonymous, authn, token)
                    #expect(answer.status == 401, "a tenant that is not allowed")
                }
            }
            }
        }
    }

    // MARK: - (f) the emulator's test hooks

    @Test func theEmulatorsTestHooksAnswerOnlyOnItsManagementPort() async throws {
        try await withIdP { pki, _, idp in
            let management = await idp.emulator.managementPort.port()
            let kid = await idp.emulator.keys.signingKey().kid
            try await withClient(try pki.client(withCertificate: false)) { client in
                for (method, path) in [(HTTPMethod.GET, "/_emulator/stats"), (.POST, "/_emulator/reset"), (.POST, "/_emulator/rotate-signing-key"),
                                       (.POST, "/_emulator/faults")] {
                    let answer = try await call(client, "https://localhost:\(idp.emulatorPort)\(path)", method: method,
                                                body: method == .POST ? #"{"status": 503, "count": 1}"# : nil)
                    #expect(answer.status == 404, "\(method) \(path) on the public listener: \(answer.status)")
                }
                #expect(await idp.emulator.keys.signingKey().kid == kid, "the public listener rotated the signing key")
                let stats = try await call(client, "http://127.0.0.1:\(management)/_emulator/stats")
                #expect(stats.status == 200, "\(stats.text)")
                #expect(stats.text.contains("tokens_issued"), "\(stats.text)")
                let rotated = try await call(client, "http://127.0.0.1:\(management)/_emulator/rotate-signing-key", method: .POST)
                #expect(rotated.status == 200)
                #expect(await idp.emulator.keys.signingKey().kid != kid)
            }
        }
    }
}
