import _CryptoExtras
import AsyncHTTPClient
import AuthProtocol
import ClientAssertion
import JOSE
import Crypto
import EntraEmulator
import Foundation
import Hummingbird
import HummingbirdHTTP2
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
import WireFormat

/// An external OIDC issuer the test runs (the Kubernetes API server's service account issuer, in production): HTTPS
/// discovery and JWKS on port 0, and tokens it mints with its RSA key.
struct ExternalIssuer: Sendable {
    let key: _RSA.Signing.PrivateKey
    let kid: String
    let services: [any Service]
    let port: PortHandle

    static let subject = "system:serviceaccount:camunda:token-issuer"

    init(pki: TestPKI, logger: Logger) throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let kid = "k8s-" + Base64URL.encode(Array(SHA256.hash(data: key.publicKey.derRepresentation)).prefix(8))
        let port = PortHandle()
        let router = Router(context: ServiceRequestContext.self)
        let primitives = try key.publicKey.getKeyPrimitives()
        let jwks = #"{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"\#(kid)","n":"\#(Base64URL.encode(primitives.modulus))","e":"\#(Base64URL.encode(primitives.publicExponent))"}]}"#
        router.get("/.well-known/openid-configuration") { _, _ in
            let base = "https://localhost:\(await port.port())"
            return JSONResponse.make(.ok, ["issuer": base, "jwks_uri": "\(base)/openid/v1/jwks"])
        }
        router.get("/openid/v1/jwks") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: jwks)))
        }
        let listener = ListenerSettings(
            port: 0, managementPort: 0,
            keystore: KeystoreSource(path: pki.path("entra-emulator.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .serverSSL),
            clientAuth: .none, trustStore: nil)
        let app = try listener.application(
            name: "external-issuer", router: router, tls: .init(tlsConfiguration: try listener.tlsConfiguration()), port: port, logger: logger)
        self.key = key
        self.kid = kid
        self.services = [app]
        self.port = port
    }

    func url() async -> String { "https://localhost:\(await port.port())" }

    /// A token as the kubelet's projected service account token looks (iss, sub, aud, iat, nbf, exp, kid).
    func mint(issuer: String, subject: String = ExternalIssuer.subject, audience: String = FederatedCredential.defaultAudience,
              lifetime: Int = 3600, notBefore: Int = 0, signingKey: _RSA.Signing.PrivateKey? = nil) throws -> String {
        struct Claims: Encodable { var iss: String; var sub: String; var aud: [String]; var iat: Int; var nbf: Int; var exp: Int }
        let now = Int(Date().timeIntervalSince1970)
        return try JWS.sign(
            header: JOSEHeader(alg: "RS256", typ: "JWT", kid: kid),
            claims: Claims(iss: issuer, sub: subject, aud: [audience], iat: now, nbf: now + notBefore, exp: now + lifetime),
            key: .rsa(signingKey ?? key))
    }
}

@Suite(.serialized)
struct FederatedCredentialTests {
    /// Registers a federated credential trusting `issuer` on the test app (and no certificate).
    static func registerFederation(pki: TestPKI, issuer: String) throws {
        let apps = """
        {"tenant_id": "\(TestPKI.tenantID)",
         "apps": [
          {"client_id": "\(TestPKI.clientID)", "name": "identity", "certificates": [],
           "federated_credentials": [{"name": "kubernetes", "issuer": "\(issuer)", "subject": "\(ExternalIssuer.subject)"}],
           "app_roles_granted": {"\(TestPKI.apiID)": ["Admin", "Reader"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        try Data(apps.utf8).write(to: URL(fileURLWithPath: pki.path("apps.json")))
    }

    /// One client-credentials request with a federated assertion straight to the emulator's token endpoint.
    static func primeEmulatorKeys(pki: TestPKI, emulatorPort: Int, assertion: String) async throws {
        let client = try pki.client(withCertificate: false)
        try await TestPKI.using(client) {
            var request = HTTPClientRequest(url: "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/oauth2/v2.0/token")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            let form = [
                ("client_id", TestPKI.clientID), ("scope", "\(TestPKI.apiID)/.default"), ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion),
            ].map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: form))
            let response = try await client.execute(request, timeout: .seconds(60))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .ok, "the emulator accepts the federated assertion")
        }
    }

    /// token-issuer with `CLIENT_ASSERTION_SOURCE=file` and no keystore: 1,000 concurrent callers cause one exchange;
    /// the file is read for every exchange (a stale token is refused locally with its path, a renewed one works at
    /// once); the emulator answers Entra's codes for every mismatch.
    @Test func tokenIssuerExchangesTheFederatedTokenFile() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let external = try ExternalIssuer(pki: pki, logger: logs.logger("external-issuer"))
        try await withServices(external.services, logger: logs.logger("group")) {
            let issuerURL = await external.url()
            try Self.registerFederation(pki: pki, issuer: issuerURL)
            let emulatorConfiguration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment(extra: [
                "ENTRA_EMULATOR_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            ])))
            let emulator = try await EmulatorApplication.build(configuration: emulatorConfiguration, logger: logs.logger("entra-emulator"))
            try await withServices(emulator.services, logger: logs.logger("group")) {
                let emulatorPort = await emulator.port.port()
                let tokenFile = pki.path("azure-identity-token")
                try SecureFile.write(Array(try external.mint(issuer: issuerURL).utf8), to: tokenFile)

                var environment = pki.tokenIssuerEnvironment(emulatorPort: emulatorPort, extra: [
                    "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_SOURCE": "file",
                    "AZURE_FEDERATED_TOKEN_FILE": tokenFile,
                ])
                for variable in environment.keys where variable.hasPrefix("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE") {
                    environment.removeValue(forKey: variable)
                }
                let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
                #expect(configuration.keystore == nil)
                let issuer = try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
                try await withServices(issuer.services, logger: logs.logger("group")) {
                    let port = await issuer.port.port()
                    let client = try pki.workloadClient()
                    try await TestPKI.using(client) {
                        let url = "https://localhost:\(port)/v1/token"
                        // The emulator fetches the external issuer's discovery and keys once (cached five minutes):
                        // done before the burst, so that on a loaded machine that fetch (from a server in this same
                        // process, behind 1,000 requests) does not time the single exchange out.
                        try await Self.primeEmulatorKeys(pki: pki, emulatorPort: emulatorPort, assertion: try external.mint(issuer: issuerURL))
                        await emulator.control.reset()
                        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                            for _ in 0..<1000 { group.addTask { try await post(client, url).status } }
                            var all: [Int] = []
                            for try await status in group { all.append(status) }
                            return all
                        }
                        #expect(statuses.count == 1000 && statuses.allSatisfy { $0 == 200 }, "\(Set(statuses))")
                        let stats = await emulator.control.snapshot()
                        #expect(stats.tokenRequests == 1)
                        #expect(stats.tokensIssued == 1)
                        let answer = try await post(client, url)
                        let token = try JSONDecoder().decode(TokenResponse.self, from: answer.body)
                        let payload = try #require(Base64URL.decode(String(token.accessToken.split(separator: ".")[1])))
                        let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
                        #expect(claims["roles"] as? [String] == ["Admin", "Reader"])
                        #expect(claims["azp"] as? String == TestPKI.clientID)

                        // A stale token file is refused before anything is sent, naming the file (another scope: no cache).
                        try SecureFile.write(Array(try external.mint(issuer: issuerURL, lifetime: -10).utf8), to: tokenFile)
                        let other = #"{"scope": "api://\#(TestPKI.apiID)/.default"}"#
                        let stale = try await post(client, url, body: other)
                        let staleText = String(decoding: stale.body, as: UTF8.self)
                        #expect(stale.status == 500)
                        #expect(staleText.contains("The federated token in \(tokenFile) expired at"), "\(staleText)")
                        #expect(await emulator.control.snapshot().tokenRequests == 1, "nothing was sent to the IdP")
                        try SecureFile.write(Array(try external.mint(issuer: issuerURL, audience: "api://other").utf8), to: tokenFile)
                        let wrongAudience = String(decoding: try await post(client, url, body: other).body, as: UTF8.self)
                        #expect(wrongAudience.contains("is for audience 'api://other', not 'api://AzureADTokenExchange'"), "\(wrongAudience)")

                        // The renewed file is used at once.
                        try SecureFile.write(Array(try external.mint(issuer: issuerURL).utf8), to: tokenFile)
                        let renewed = try await post(client, url, body: other)
                        #expect(renewed.status == 200, "\(String(decoding: renewed.body, as: UTF8.self))")
                        #expect(await emulator.control.snapshot().tokenRequests == 2)
                        let everything = logs.all.joined(separator: "\n")
                        #expect(!everything.contains(try String(contentsOfFile: tokenFile, encoding: .utf8)))
                    }
                }

                // The emulator's answers to mismatching tokens, as Entra gives them.
                let stranger = try _RSA.Signing.PrivateKey(keySize: .bits2048)
                let cases: [(String, Int)] = [
                    (try external.mint(issuer: issuerURL), 200),
                    (try external.mint(issuer: "https://oidc.example.com/other"), 700211),
                    (try external.mint(issuer: issuerURL, subject: "system:serviceaccount:camunda:other"), 700213),
                    (try external.mint(issuer: issuerURL, subject: ExternalIssuer.subject.uppercased()), 7002138),
                    (try external.mint(issuer: issuerURL, audience: "api://other"), 700212),
                    (try external.mint(issuer: issuerURL, lifetime: -600), 700024),
                    (try external.mint(issuer: issuerURL, notBefore: 3600), 700024),
                    (try external.mint(issuer: issuerURL, signingKey: stranger), 700027),
                ]
                for (assertion, expected) in cases {
                    let answer = try await PEMCredentialLiveTests.exchange(assertion, pki: pki, emulatorPort: emulatorPort)
                    if expected == 200 {
                        #expect(answer.status == 200, "\(answer.body)")
                    } else {
                        #expect(answer.body.contains("\"error_codes\":[\(expected)]"), "expected AADSTS\(expected): \(answer.body)")
                        #expect(answer.body.contains("AADSTS\(expected):"), "\(answer.body)")
                    }
                }
            }
        }
    }

    @Test func federatedTokenFileChecksNameTheFile() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let external = try ExternalIssuer(pki: pki, logger: Logger(label: "unused"))
        let path = pki.path("token")
        let file = FederatedTokenFile(path: path, audience: FederatedCredential.defaultAudience)
        #expect(throws: TokenIssuanceError.self) { try file.read() }
        do { _ = try file.read() } catch {
            #expect(error.body.errorDescription == "The federated token file \(path) does not exist")
        }
        try SecureFile.write(Array("not a jwt".utf8), to: path)
        do { _ = try file.read() } catch {
            #expect(error.body.errorDescription.hasPrefix("The federated token file \(path) does not hold a JWT"))
        }
        try SecureFile.write(Array(try external.mint(issuer: "https://k8s", notBefore: 600).utf8), to: path)
        do { _ = try file.read() } catch {
            #expect(error.body.errorDescription.hasPrefix("The federated token in \(path) is not valid before"))
        }
        let good = try external.mint(issuer: "https://k8s")
        try SecureFile.write(Array((good + "\n").utf8), to: path)
        #expect(try file.read() == good)

        // Configuration: the file setting wins over AZURE_FEDERATED_TOKEN_FILE; file needs private_key_jwt.
        var environment = pki.tokenIssuerEnvironment(emulatorPort: 1, extra: [
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_SOURCE": "file",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_FILE": path, "AZURE_FEDERATED_TOKEN_FILE": "/elsewhere",
        ])
        let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
        #expect(configuration.assertionSource == .file(FederatedTokenFile(path: path, audience: "api://AzureADTokenExchange")))
        environment.removeValue(forKey: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_FILE")
        environment.removeValue(forKey: "AZURE_FEDERATED_TOKEN_FILE")
        do {
            _ = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
            Issue.record("file without a path must be refused")
        } catch {
            #expect(error.variable == "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_FILE")
        }
    }

    @Test func registryChecksFederatedCredentials() throws {
        let directory = NSTemporaryDirectory() + "fic-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func load(_ credentials: String) -> String? {
            let path = directory + "/apps.json"
            let json = #"{"tenant_id": "t", "apps": [{"client_id": "c", "federated_credentials": \#(credentials)}]}"#
            _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8))
            do {
                _ = try AppRegistry.load(path: path)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(load(#"[{"name": "k", "issuer": "https://k8s.example", "subject": "s"}]"#) == nil)
        let many = (0..<21).map { #"{"name": "k\#($0)", "issuer": "https://k8s.example", "subject": "s\#($0)"}"# }.joined(separator: ",")
        #expect(load("[\(many)]")?.contains("at most 20") == true)
        #expect(load(#"[{"name": "k", "issuer": "http://k8s.example", "subject": "s"}]"#)?.contains("'issuer' must be the https URL") == true)
        #expect(load(#"[{"name": "k", "issuer": "https://k8s.example"}]"#)?.contains("'subject' is required") == true)
        #expect(load(#"[{"name": "k", "issuer": "https://a", "subject": "s"}, {"name": "k", "issuer": "https://b", "subject": "s"}]"#)?.contains("used twice") == true)
    }
}
