import AsyncHTTPClient
import Authn
import AuthProtocol
import EntraEmulator
import Foundation
import Keystore
import NIOHTTP1
import NIOSSL
import ServiceSupport
import Settings
import SwiftASN1
import Testing
import TestSupport
import TokenIssuer
import X509

/// RFC 8705 §3 certificate-bound access tokens end to end: the emulator binds the token to the certificate
/// token-issuer presented with tls_client_auth, and authn accepts it only from a connection presenting that certificate.
@Suite(.serialized)
struct CertificateBoundTokenTests {
    static let boundClientID = "22222222-0000-4000-8000-000000000001"

    @Test func boundTokenIsAcceptedOnlyWithTheCertificateItWasIssuedTo() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let apps = """
        {"tenant_id": "\(TestPKI.tenantID)",
         "apps": [
          {"client_id": "\(Self.boundClientID)", "token_endpoint_auth_method": "tls_client_auth",
           "tls_client_auth_subject_dn": "CN=identity, O=CertAuth dev", "certificate_bound_tokens": true,
           "app_roles_granted": {"\(TestPKI.apiID)": ["Reader"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        let appsPath = try AuthnFixtures.write(apps, pki, "bound-apps.json")
        let emulator = try await EmulatorApplication.build(
            configuration: try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment(extra: [
                "ENTRA_EMULATOR_APPS": appsPath, "ENTRA_EMULATOR_CLIENT_CA": pki.path("truststore.pem"),
            ]))),
            logger: logs.logger("entra-emulator"))
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await TokenIssuerApplication.build(
                configuration: try TokenIssuerConfiguration(environment: EnvironmentReader(pki.tokenIssuerEnvironment(
                    emulatorPort: emulatorPort, extra: [
                        "CAMUNDA_IDENTITY_TYPE": "GENERIC", "CAMUNDA_IDENTITY_CLIENT_ID": Self.boundClientID,
                        "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD": "tls_client_auth",
                    ]))),
                logger: logs.logger("token-issuer"))
            try await withServices(issuer.services, logger: logs.logger("group")) {
                // roles' certificate plays a trusted proxy (nginx) that forwards its client's certificate.
                let authn = try await AuthnFixtures.authn(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: [
                    "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES": pki.path("roles.crt"),
                ])
                try await withServices(authn.services, logger: logs.logger("group")) {
                    let issuerPort = await issuer.port.port()
                    let authnPort = await authn.port.port()
                    let me = "https://localhost:\(authnPort)/v2/authentication/me"
                    try await withClient(try pki.workloadClient()) { other in
                    try await withClient(try pki.client(withCertificate: false)) { anonymous in
                    try await withClient(try Self.identityClient(pki)) { holder in
                    try await withClient(try Self.identityClient(pki, keystore: "roles.p12", alias: "roles")) { proxy in
                        let token = try await suiteToken(other, issuerPort: issuerPort)
                        let bearer = [("authorization", "Bearer \(token)")]

                        // The holder of the certificate the token is bound to.
                        let accepted = try await call(holder, me, headers: bearer)
                        #expect(accepted.status == 200, "\(accepted.text)")
                        #expect(try accepted.principal().principal == Self.boundClientID)
                        #expect(try accepted.principal().authenticationMethod == .oidc)

                        // Replayed from a connection with another certificate: refused, saying why.
                        let replayed = try await call(other, me, headers: bearer)
                        #expect(replayed.status == 401)
                        #expect(replayed.text.contains("the token is bound to another certificate"), "\(replayed.text)")
                        #expect(replayed.headers["www-authenticate"]?.contains("invalid_token") == true)

                        // Replayed without any certificate.
                        let bare = try await call(anonymous, me, headers: bearer)
                        #expect(bare.status == 401)
                        #expect(bare.text.contains("no client certificate was presented"), "\(bare.text)")

                        // The verified-token cache does not skip the check: right, wrong, right again.
                        #expect(try await call(holder, me, headers: bearer).status == 200)
                        #expect(try await call(other, "https://localhost:\(authnPort)/v1/forward-auth", headers: bearer).status == 401)
                        #expect(try await call(holder, "https://localhost:\(authnPort)/v1/forward-auth", headers: bearer).status == 200)

                        // Behind a trusted proxy: the forwarded certificate counts, never the proxy's own.
                        func forwarded(_ file: String) throws -> [(String, String)] {
                            let pem = try String(contentsOfFile: pki.path(file), encoding: .utf8)
                            return bearer + [("x-ssl-client-cert", pem.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")]
                        }
                        let viaProxy = try await call(proxy, me, headers: try forwarded("identity.cer"))
                        #expect(viaProxy.status == 200, "\(viaProxy.text)")
                        let otherViaProxy = try await call(proxy, me, headers: try forwarded("client.crt"))
                        #expect(otherViaProxy.status == 401)
                        #expect(otherViaProxy.text.contains("bound to another certificate"))
                        // The same through RFC 9440 Client-Cert and Envoy's x-forwarded-client-cert (issue 17 item 6).
                        for form in [ForwardedHeader.rfc9440, .envoy] {
                            func headers(_ file: String) throws -> [(String, String)] {
                                let certificate = try Certificate(pemEncoded: try String(contentsOfFile: pki.path(file), encoding: .utf8))
                                return bearer + (try form.fields([certificate]))
                            }
                            let holderViaProxy = try await call(proxy, me, headers: try headers("identity.cer"))
                            #expect(holderViaProxy.status == 200, "\(form): \(holderViaProxy.text)")
                            let otherVia = try await call(proxy, me, headers: try headers("client.crt"))
                            #expect(otherVia.status == 401, "\(form)")
                            #expect(otherVia.text.contains("bound to another certificate"), "\(form): \(otherVia.text)")
                        }
                        let proxyAlone = try await call(proxy, me, headers: bearer)
                        #expect(proxyAlone.status == 401)
                        #expect(proxyAlone.text.contains("no client certificate was presented"), "\(proxyAlone.text)")

                        // POST /v1/authenticate: the caller passes the certificate its client presented.
                        let authenticate = "https://localhost:\(authnPort)/v1/authenticate"
                        let identityPEM = try String(contentsOfFile: pki.path("identity.cer"), encoding: .utf8)
                        let clientPEM = try String(contentsOfFile: pki.path("client.crt"), encoding: .utf8)
                        func body(_ pem: String?) throws -> String {
                            String(decoding: try JSONEncoder().encode(AuthenticateRequest(token: token, certificateChainPEM: pem)), as: UTF8.self)
                        }
                        let withHolder = try await call(other, authenticate, method: .POST, body: try body(identityPEM))
                        #expect(withHolder.status == 200, "\(withHolder.text)")
                        let withOther = try await call(other, authenticate, method: .POST, body: try body(clientPEM))
                        #expect(withOther.status == 401)
                        #expect(withOther.text.contains("bound to another certificate"))
                        let withNone = try await call(other, authenticate, method: .POST, body: try body(nil))
                        #expect(withNone.status == 401)
                        #expect(withNone.text.contains("no client certificate was presented"))
                    }
                    }
                    }
                    }
                }
            }
        }
        for line in logs.all {
            #expect(!line.contains(TestPKI.password))
            #expect(!line.contains("eyJ"), "a log line holds a JWT: \(line.prefix(200))")
        }
    }

    /// An HTTP client presenting a keystore's certificate (identity.p12: the one token-issuer used for tls_client_auth).
    static func identityClient(_ pki: TestPKI, keystore: String = "identity.p12", alias: String = "identity") throws -> HTTPClient {
        let credential = try KeystoreLoader.load(
            path: pki.path(keystore), password: TestPKI.password, alias: alias, keyPassword: nil,
            settings: .testCredential).credential
        let tls = try ServerTLS.clientConfiguration(
            credential: credential, trustRoots: try TrustStoreLoader.load(
                path: pki.path("truststore.pem"), password: nil, type: nil, setting: "test"),
            includeSystemRoots: false)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }
}
