import AsyncHTTPClient
import AuthProtocol
import Crypto
import DevPKI
import EntraEmulator
import Foundation
import Keystore
import Logging
import ServiceSupport
import Settings
import Testing
import TestSupport
import TokenIssuer
import WireFormat

/// App registrations for the client authentication methods of issue 6, written next to a test PKI.
enum MethodApps {
    static let tlsExact = "11111111-0000-4000-8000-000000000001"
    static let tlsRegex = "11111111-0000-4000-8000-000000000002"
    static let tlsWrongDN = "11111111-0000-4000-8000-000000000003"
    static let intermediaryAny = "11111111-0000-4000-8000-000000000004"
    static let intermediaryLeaf = "11111111-0000-4000-8000-000000000005"
    static let secret = "11111111-0000-4000-8000-000000000006"
    static let secretValue = "s3cr%t+value&=ü"

    /// Writes `methods-apps.json` into the PKI directory and returns its path.
    static func write(_ pki: TestPKI) throws -> String {
        func tls(_ id: String, dn: String, match: String, chain: String, bound: Bool = false) -> String {
            """
            {"client_id": "\(id)", "token_endpoint_auth_method": "tls_client_auth",
             "tls_client_auth_subject_dn": "\(dn)", "tls_client_auth_dn_match": "\(match)",
             "tls_client_auth_chain_match": "\(chain)", "certificate_bound_tokens": \(bound),
             "app_roles_granted": {"\(TestPKI.apiID)": ["Reader"]}}
            """
        }
        let apps = """
        {"tenant_id": "\(TestPKI.tenantID)",
         "apps": [
          \(tls(tlsExact, dn: "CN=identity, O=CertAuth dev", match: "exact", chain: "leaf", bound: true)),
          \(tls(tlsRegex, dn: "CN=(.*?), O=CertAuth dev", match: "regex", chain: "leaf")),
          \(tls(tlsWrongDN, dn: "CN=operate, OU=Operate, O=Camunda", match: "exact", chain: "leaf")),
          \(tls(intermediaryAny, dn: DevPKI.intermediarySubject, match: "exact", chain: "any")),
          \(tls(intermediaryLeaf, dn: DevPKI.intermediarySubject, match: "exact", chain: "leaf")),
          {"client_id": "\(secret)", "client_secrets": ["\(secretValue)"], "app_roles_granted": {"\(TestPKI.apiID)": ["Reader"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        let path = pki.path("methods-apps.json")
        try Data(apps.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The emulator with these apps, asking for client certificates from the PKI's root CA.
    static func emulator(_ pki: TestPKI, logs: CapturedLogs) async throws -> EmulatorInstance {
        let configuration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment(extra: [
            "ENTRA_EMULATOR_APPS": try write(pki), "ENTRA_EMULATOR_CLIENT_CA": pki.path("truststore.pem"),
        ])))
        return try await EmulatorApplication.build(configuration: configuration, logger: logs.logger("entra-emulator"))
    }

    /// token-issuer's environment for a GENERIC IdP (the emulator's discovery) with `method`.
    static func issuerEnvironment(_ pki: TestPKI, emulatorPort: Int, clientID: String, method: String) -> [String: String] {
        pki.tokenIssuerEnvironment(emulatorPort: emulatorPort, extra: [
            "CAMUNDA_IDENTITY_TYPE": "GENERIC", "CAMUNDA_IDENTITY_CLIENT_ID": clientID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD": method,
        ])
    }

    /// Starts token-issuer with `environment`, asks it for a token over HTTP/2 + mTLS, and stops it.
    static func requestToken(_ pki: TestPKI, logs: CapturedLogs, environment: [String: String]) async throws -> (status: Int, body: Data) {
        let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
        let issuer = try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
        return try await withServices(issuer.services, logger: logs.logger("group")) {
            let port = await issuer.port.port()
            let client = try pki.workloadClient()
            return try await TestPKI.using(client) {
                let answer = try await post(client, "https://localhost:\(port)/v1/token")
                return (answer.status, answer.body)
            }
        }
    }

    static func claims(_ body: Data) throws -> [String: Any] {
        let token = try JSONDecoder().decode(TokenResponse.self, from: body).accessToken
        let payload = try #require(token.split(separator: ".").dropFirst().first.flatMap { Base64URL.decode(String($0)) })
        return try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
    }

    static func error(_ body: Data) throws -> OAuthErrorResponse {
        try JSONDecoder().decode(OAuthErrorResponse.self, from: body)
    }
}

/// token-issuer against the emulator with tls_client_auth (both DN-matching modes, the intermediary scheme, the
/// refusals) and with client secrets: real TLS with client certificates, HTTP/2, in process on port 0.
@Suite(.serialized)
struct ClientAuthenticationMethodLiveTests {
    @Test func tlsClientAuthWithExactAndRegexSubjectDNAndTheRefusals() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let other = try TestPKI()
        defer { other.remove() }
        let logs = CapturedLogs()
        let emulator = try await MethodApps.emulator(pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()

            // Exact DN, certificate-bound token: the mTLS alias from discovery is used, cnf names the keystore's certificate.
            let exact = try await MethodApps.requestToken(pki, logs: logs, environment: MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.tlsExact, method: "tls_client_auth"))
            #expect(exact.status == 200, "\(String(decoding: exact.body, as: UTF8.self))")
            let claims = try MethodApps.claims(exact.body)
            #expect(claims["azp"] as? String == MethodApps.tlsExact)
            #expect(claims["roles"] as? [String] == ["Reader"])
            let identity = try KeystoreLoader.load(
                path: pki.path("identity.p12"), password: TestPKI.password, alias: "identity", keyPassword: nil, settings: .clientAssertion)
            #expect((claims["cnf"] as? [String: String])?["x5t#S256"] == identity.credential.x5tS256)
            #expect(await emulator.control.snapshot().mtlsEndpointRequests == 1)

            // Regex DN (Keycloak's "Allow Regex Pattern Comparison"): a full match of the subject.
            let regex = try await MethodApps.requestToken(pki, logs: logs, environment: MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.tlsRegex, method: "tls_client_auth"))
            #expect(regex.status == 200, "\(String(decoding: regex.body, as: UTF8.self))")
            #expect(try MethodApps.claims(regex.body)["cnf"] == nil)

            // Wrong DN: invalid_client naming both DNs, and a hint about tls_client_auth.
            let wrong = try await MethodApps.requestToken(pki, logs: logs, environment: MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.tlsWrongDN, method: "tls_client_auth"))
            #expect(wrong.status == 502)
            let wrongError = try MethodApps.error(wrong.body)
            #expect(wrongError.error == "invalid_client")
            #expect(wrongError.errorDescription.contains("Certificate subject DN does not match"))
            #expect(wrongError.errorDescription.contains("CN=operate, OU=Operate, O=Camunda"))
            #expect(wrongError.errorDescription.contains("'CN=identity, O=CertAuth dev'"))
            #expect(wrongError.hint?.contains("tls_client_auth") == true)

            // Untrusted chain: the same subject DN, issued by another CA.
            var untrustedEnvironment = MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.tlsExact, method: "tls_client_auth")
            untrustedEnvironment["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH"] = other.path("identity.p12")
            let untrusted = try await MethodApps.requestToken(pki, logs: logs, environment: untrustedEnvironment)
            #expect(untrusted.status == 502)
            let untrustedError = try MethodApps.error(untrusted.body)
            #expect(untrustedError.error == "invalid_client")
            #expect(untrustedError.errorDescription.contains("Client certificate not trusted"), "\(untrustedError.errorDescription)")

            // No certificate: private_key_jwt for an app that needs tls_client_auth (plain endpoint, no client certificate).
            let missing = try await MethodApps.requestToken(pki, logs: logs, environment: MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.tlsRegex, method: "private_key_jwt"))
            #expect(missing.status == 502)
            let missingError = try MethodApps.error(missing.body)
            #expect(missingError.error == "invalid_client")
            #expect(missingError.errorDescription.contains("Client certificate missing"), "\(missingError.errorDescription)")
        }
        for line in logs.all {
            #expect(!line.contains(TestPKI.password))
            #expect(!line.contains("eyJ"), "a log line holds a JWT: \(line.prefix(200))")
        }
    }

    @Test func intermediarySchemeMatchesAnyCertificateOfTheChainButNotTheLeafAlone() async throws {
        let pki = try TestPKI(scheme: .intermediary)
        defer { pki.remove() }
        let logs = CapturedLogs()
        // The keystore holds leaf → intermediary → root.
        let identity = try KeystoreLoader.load(
            path: pki.path("identity.p12"), password: TestPKI.password, alias: "identity", keyPassword: nil, settings: .clientAssertion)
        #expect(identity.credential.chain.count == 3)
        let emulator = try await MethodApps.emulator(pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()

            // The seed's Option 1: the client registered with the intermediary's DN, "any certificate of the chain".
            let any = try await MethodApps.requestToken(pki, logs: logs, environment: MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.intermediaryAny, method: "tls_client_auth"))
            #expect(any.status == 200, "\(String(decoding: any.body, as: UTF8.self))")
            #expect(try MethodApps.claims(any.body)["azp"] as? String == MethodApps.intermediaryAny)

            // The component that owns the intermediary itself (the seed's Zeebe) authenticates with it too.
            var owner = MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.intermediaryAny, method: "tls_client_auth")
            owner["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH"] = pki.path("intermediary.p12")
            owner["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS"] = "intermediary"
            let ownerAnswer = try await MethodApps.requestToken(pki, logs: logs, environment: owner)
            #expect(ownerAnswer.status == 200, "\(String(decoding: ownerAnswer.body, as: UTF8.self))")

            // The stricter default, leaf only: the component's own DN is not the intermediary's, so it is refused.
            let leaf = try await MethodApps.requestToken(pki, logs: logs, environment: MethodApps.issuerEnvironment(
                pki, emulatorPort: emulatorPort, clientID: MethodApps.intermediaryLeaf, method: "tls_client_auth"))
            #expect(leaf.status == 502)
            let leafError = try MethodApps.error(leaf.body)
            #expect(leafError.errorDescription.contains("chain match: leaf"), "\(leafError.errorDescription)")

            // Every request went to the mTLS endpoint alias that discovery advertises: one each for the two accepted
            // ones, two for the refused one (an invalid_client with a certificate code reloads the keystore and retries once).
            #expect(await emulator.control.snapshot().mtlsEndpointRequests == 4)
            #expect(await emulator.control.snapshot().tokenRequests == 4)
        }
    }

    @Test(arguments: ["client_secret_basic", "client_secret_post"])
    func clientSecretMethodsWithoutAKeystore(method: String) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await MethodApps.emulator(pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            var environment = pki.tokenIssuerEnvironment(emulatorPort: emulatorPort, extra: [
                "CAMUNDA_IDENTITY_CLIENT_ID": MethodApps.secret, "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "false",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD": method,
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET": MethodApps.secretValue,
            ])
            for key in environment.keys where key.contains("CLIENT_ASSERTION_KEYSTORE") { environment[key] = nil }
            let answer = try await MethodApps.requestToken(pki, logs: logs, environment: environment)
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            let claims = try MethodApps.claims(answer.body)
            #expect(claims["azp"] as? String == MethodApps.secret)
            #expect(claims["azpacr"] as? String == "1")

            environment["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET"] = "not-the-secret"
            let refused = try await MethodApps.requestToken(pki, logs: logs, environment: environment)
            #expect(refused.status == 502)
            let error = try MethodApps.error(refused.body)
            #expect(error.errorCodes == [7000215])
            #expect(error.hint?.contains("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET") == true)
        }
        let everything = logs.all.joined(separator: "\n")
        #expect(!everything.contains(MethodApps.secretValue))
        #expect(!everything.contains("not-the-secret"))
        #expect(everything.contains("authenticates to the IdP with a client secret"))
    }
}

/// Configuration of the client authentication method: every inconsistent combination stops the start with one line.
/// The variables of the client authentication method.
private enum V {
    static let method = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD"
    static let certAuth = "CAMUNDA_SECURITY_CERT_AUTH_ENABLED"
    static let secret = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET"
}

@Suite struct ClientAuthenticationMethodConfigurationTests {
    let pki: TestPKI

    init() throws { pki = try TestPKI() }

    func configuration(_ overrides: [String: String?]) throws(ConfigurationError) -> TokenIssuerConfiguration {
        var values = pki.tokenIssuerEnvironment(emulatorPort: 9443)
        for (key, value) in overrides { values[key] = value }
        return try TokenIssuerConfiguration(environment: EnvironmentReader(values))
    }

    @Test func defaultsFollowCertAuthEnabled() throws {
        #expect(try configuration([:]).clientAuthenticationMethod == .privateKeyJWT)
        #expect(try configuration([V.certAuth: nil]).clientAuthenticationMethod == .privateKeyJWT)
        let secret = try configuration([V.certAuth: "false", V.secret: "x"])
        #expect(secret.clientAuthenticationMethod == .clientSecretBasic)
        #expect(secret.keystore != nil, "a configured keystore is still loaded (for /v1/client-assertion)")
        let keyless = try configuration([
            V.certAuth: "false", V.secret: "x", V.method: "client_secret_post",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": nil,
        ])
        #expect(keyless.keystore == nil)
        #expect(keyless.clientAuthenticationMethod == .clientSecretPost)
        let tls = try configuration(["CAMUNDA_IDENTITY_TYPE": "KEYCLOAK", V.method: "tls_client_auth"])
        #expect(tls.clientAuthenticationMethod == .tlsClientAuth)
    }

    @Test(arguments: [
        ([V.method: "tls_client_auth"], V.method, "tls_client_auth is not offered by Microsoft Entra ID"),
        ([V.method: "client_secret_jwt"], V.method, "expected one of private_key_jwt, tls_client_auth, client_secret_basic, client_secret_post"),
        ([V.certAuth: "false"], V.secret, "is not set, but \(V.method)=client_secret_basic authenticates with the client secret"),
        ([V.certAuth: "false", V.method: "client_secret_post", V.secret: "  "], V.secret, "is not set"),
        ([V.method: "client_secret_post", V.secret: "x"], V.certAuth, "is true, but \(V.method)=client_secret_post authenticates with a client secret"),
        ([V.certAuth: "false", V.method: "private_key_jwt"], V.certAuth, "is false, but \(V.method)=private_key_jwt authenticates with a certificate"),
        ([V.method: "tls_client_auth", "CAMUNDA_IDENTITY_TYPE": "GENERIC",
          "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": nil],
         "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH", "is not set"),
    ] as [([String: String?], String, String)])
    func inconsistentMethodSettingsNameTheVariable(overrides: [String: String?], variable: String, expected: String) throws {
        let error = #expect(throws: ConfigurationError.self) { try configuration(overrides) }
        #expect(error?.variable == variable, "\(error?.description ?? "")")
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test func secretsAreNeverInConfigurationErrors() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try configuration([V.method: "client_secret_post", V.secret: "Very-Secret-Value-42"])
        }
        #expect(error?.description.contains("Very-Secret-Value-42") == false)
    }

    /// A Java KeyStore truststore is refused with the keytool command that converts it (the seed's truststore step
    /// produces truststore.jks). The file is a valid, empty JKS store (what keytool writes for no entries).
    @Test func jksTruststoreIsRefusedWithTheKeytoolCommand() async throws {
        let path = pki.path("truststore.jks")
        try Data(Self.emptyJKS(password: "changeit")).write(to: URL(fileURLWithPath: path))
        for method in ["private_key_jwt", "tls_client_auth"] {
            let configuration = try configuration([
                "CAMUNDA_IDENTITY_TYPE": "GENERIC", V.method: method,
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": path,
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PASSWORD": "changeit",
            ])
            let error = await #expect(throws: KeystoreError.self) {
                _ = try await TokenIssuerApplication.build(configuration: configuration, logger: CapturedLogs().logger("t"))
            }
            #expect(error?.message.contains("Java KeyStore (JKS)") == true)
            #expect(error?.message.contains("keytool -importkeystore -srckeystore truststore.jks -destkeystore truststore.p12 -deststoretype PKCS12") == true)
            #expect(error?.message.contains("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH") == true)
        }
    }

    /// JKS: magic, version 2, zero entries, then SHA-1 over the password (UTF-16BE), "Mighty Aphrodite" and the bytes so far.
    static func emptyJKS(password: String) -> [UInt8] {
        let body: [UInt8] = [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 0]
        var hasher = Insecure.SHA1()
        hasher.update(data: password.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
        hasher.update(data: Array("Mighty Aphrodite".utf8))
        hasher.update(data: body)
        return body + Array(hasher.finalize())
    }
}
