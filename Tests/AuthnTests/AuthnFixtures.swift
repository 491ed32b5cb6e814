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
import NIOSSL
import ServiceLifecycle
import ServiceSupport
import Settings
import SwiftASN1
import TestSupport
import TokenIssuer
import WireFormat
import X509

/// The suite built in process on port 0: the emulator as IdP, token-issuer, authn.
enum AuthnFixtures {
    static func emulator(pki: TestPKI, logs: CapturedLogs) async throws -> EmulatorInstance {
        let configuration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment()))
        return try await EmulatorApplication.build(configuration: configuration, logger: logs.logger("entra-emulator"))
    }

    static func issuer(pki: TestPKI, logs: CapturedLogs, emulatorPort: Int) async throws -> TokenIssuerInstance {
        let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(
            pki.tokenIssuerEnvironment(emulatorPort: emulatorPort)))
        return try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
    }

    /// authn's environment: bearer tokens from the emulator on `emulatorPort` and client certificates from the dev CA.
    static func environment(pki: TestPKI, emulatorPort: Int, extra: [String: String] = [:]) -> [String: String] {
        [
            "SERVER_PORT": "0", "MANAGEMENT_SERVER_PORT": "0",
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES": "ROLE_USER",
            "SERVER_HANDLERS_ON_EVENT_LOOP": TestPKI.handlersOnEventLoop,
        ].merging(extra) { $1 }
    }

    static func authn(pki: TestPKI, logs: CapturedLogs, emulatorPort: Int, extra: [String: String] = [:]) async throws -> AuthnInstance {
        var configuration = try AuthnConfiguration(environment: EnvironmentReader(environment(pki: pki, emulatorPort: emulatorPort, extra: extra)))
        // The whole test run shares two cores and one process's event loops (about forty suites at once, debug builds):
        // a first JWKS fetch was once seen to take over the production default of 5 s there. The timeout itself is
        // tested in KeySetCacheTests.
        configuration.oidc?.jwksFetchTimeout = .seconds(30)
        // Likewise authn's calls to roles (production default 5 s): a connect to roles was once seen to time out there
        // (AuthorizationHardeningTests, a 503 in a full run beside three builds).
        configuration.peerTimeout = .seconds(30)
        return try await AuthnApplication.build(configuration: configuration, logger: logs.logger("authn"))
    }

    /// The dev CA of `pki` with its key, to issue more certificates.
    static func ca(_ pki: TestPKI) throws -> IssuedCertificate {
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: pki.path("ca.crt"), encoding: .utf8))
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: pki.path("ca.key"), encoding: .utf8))
        return IssuedCertificate(certificate: certificate, key: key)
    }

    /// An HTTP client presenting `leaf` (and `chain`) and trusting the dev CA.
    static func client(pki: TestPKI, leaf: IssuedCertificate?, chain: [IssuedCertificate] = []) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(pki.path("truststore.pem"))
        if let leaf {
            tls.certificateChain = try ([leaf] + chain).map { .certificate(try NIOSSLCertificate(bytes: try $0.der, format: .der)) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(leaf.keyPEM.utf8), format: .pem))
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    static func write(_ text: String, _ pki: TestPKI, _ name: String) throws -> String {
        let path = pki.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

struct Answer: Sendable {
    var status: Int
    var body: Data
    var headers: [String: String]

    var text: String { String(decoding: body, as: UTF8.self) }

    func principal() throws -> PrincipalResponse {
        try JSONDecoder().decode(PrincipalResponse.self, from: body)
    }
}

func call(_ client: HTTPClient, _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: String? = nil) async throws -> Answer {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await client.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    var fields: [String: String] = [:]
    for header in response.headers { fields[header.name.lowercased()] = header.value }
    return Answer(status: Int(response.status.code), body: Data(bytes.readableBytesView), headers: fields)
}

/// A token from token-issuer (which gets it from the emulator with a client assertion).
func suiteToken(_ client: HTTPClient, issuerPort: Int) async throws -> String {
    let answer = try await call(client, "https://localhost:\(issuerPort)/v1/token", method: .POST, body: "{}")
    guard answer.status == 200 else { throw FixtureError("token-issuer answered \(answer.status): \(answer.text)") }
    return try JSONDecoder().decode(TokenResponse.self, from: answer.body).accessToken
}

/// A token straight from the emulator, with a fresh assertion from token-issuer (bypasses token-issuer's cache).
func freshEmulatorToken(_ client: HTTPClient, issuerPort: Int, emulatorPort: Int) async throws -> String {
    let assertionAnswer = try await call(client, "https://localhost:\(issuerPort)/v1/client-assertion", method: .POST, body: "{}")
    let assertion = try JSONDecoder().decode(ClientAssertionResponse.self, from: assertionAnswer.body)
    var request = HTTPClientRequest(url: "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/oauth2/v2.0/token")
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
    let form = FormURLEncoding.encode([
        ("grant_type", "client_credentials"), ("client_id", TestPKI.clientID), ("scope", "\(TestPKI.apiID)/.default"),
        ("client_assertion_type", ClientAssertionResponse.jwtBearerType), ("client_assertion", assertion.clientAssertion),
    ])
    request.body = .bytes(ByteBuffer(string: form))
    let response = try await client.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    struct EntraToken: Decodable { let access_token: String }
    guard response.status == .ok else { throw FixtureError("emulator answered \(response.status.code)") }
    return try JSONDecoder().decode(EntraToken.self, from: Data(bytes.readableBytesView)).access_token
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` with `client`, shutting the client down afterwards whether `body` threw or not.
func withClient<T>(_ client: HTTPClient, _ body: (HTTPClient) async throws -> T) async throws -> T {
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
