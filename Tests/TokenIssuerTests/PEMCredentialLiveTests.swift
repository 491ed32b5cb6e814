import AsyncHTTPClient
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
import Testing
import TestSupport
import TokenIssuer
import WireFormat
import X509

struct HelperFailure: Error, CustomStringConvertible {
    var description: String
}

extension TestPKI {
    /// The certificate chain and PKCS#8 key of a service keystore of this PKI, as PEM text.
    func pemPair(ofKeystore name: String, alias: String) throws -> (certificate: String, key: String) {
        let credential = try KeystoreLoader.load(
            path: path("\(name).p12"), password: Self.password, alias: alias, keyPassword: nil, settings: .serverSSL).credential
        let chain = try credential.chain.map { try $0.serializeAsPEM().pemString + "\n" }.joined()
        return (chain, credential.privateKey.pkcs8PEMRepresentation + "\n")
    }
}

@Suite(.serialized)
struct PEMCredentialLiveTests {
    /// token-issuer with its listener on a PEM pair (`SERVER_SSL_CERTIFICATE*`, `SERVER_SSL_TRUST_CERTIFICATE`) and its
    /// client credential in a Kubernetes TLS secret directory; the emulator's listener on such a directory too. The
    /// secret is updated with an atomic `..data` swap and token-issuer signs with the new certificate without restart,
    /// which Entra (the emulator) accepts.
    @Test func pemListenersAndSecretDirectoryCredentialRotateWithoutRestart() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()

        // A second client certificate, registered on the app next to the first.
        let ca = try pki.certificateAuthority()
        let next = try DevPKI.issue(
            subject: try DistinguishedName { OrganizationName("CertAuth dev"); CommonName("identity") },
            usage: .client, issuer: ca)
        try Data(try next.pem.utf8).write(to: URL(fileURLWithPath: pki.path("identity-next.cer")))
        let apps = try String(contentsOfFile: pki.path("apps.json"), encoding: .utf8)
            .replacingOccurrences(of: #""certificates": ["identity.cer"]"#, with: #""certificates": ["identity.cer", "identity-next.cer"]"#)
        try Data(apps.utf8).write(to: URL(fileURLWithPath: pki.path("apps.json")))

        // The emulator's listener from a secret directory (tls.crt, tls.key).
        let emulatorSecret = try SecretVolume(path: pki.path("emulator-tls"))
        let emulatorPair = try pki.pemPair(ofKeystore: "entra-emulator", alias: "entra-emulator")
        try emulatorSecret.publish(["tls.crt": emulatorPair.certificate, "tls.key": emulatorPair.key])
        let emulatorConfiguration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment(extra: [
            "SERVER_SSL_KEY_STORE": emulatorSecret.path, "SERVER_SSL_KEY_STORE_PASSWORD": "",
        ])))
        let emulator = try await EmulatorApplication.build(configuration: emulatorConfiguration, logger: logs.logger("entra-emulator"))

        // token-issuer: listener from PEM files, client credential from a secret directory.
        let issuerPair = try pki.pemPair(ofKeystore: "token-issuer", alias: "token-issuer")
        try SecureFile.write(Array(issuerPair.certificate.utf8), to: pki.path("token-issuer-chain.crt"), mode: 0o644)
        try SecureFile.write(Array(issuerPair.key.utf8), to: pki.path("token-issuer.key"))
        let clientSecret = try SecretVolume(path: pki.path("identity-tls"))
        let identity = try KeystoreLoader.load(
            path: pki.path("identity.p12"), password: TestPKI.password, alias: "identity", keyPassword: nil, settings: .clientAssertion).credential
        try clientSecret.publish([
            "tls.crt": try identity.certificate.serializeAsPEM().pemString + "\n",
            "tls.key": identity.privateKey.pkcs8PEMRepresentation + "\n",
            "ca.crt": try String(contentsOfFile: pki.path("ca.crt"), encoding: .utf8),
        ])

        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            var environment = pki.tokenIssuerEnvironment(emulatorPort: emulatorPort, extra: [
                "SERVER_SSL_CERTIFICATE": pki.path("token-issuer-chain.crt"),
                "SERVER_SSL_CERTIFICATE_PRIVATE_KEY": pki.path("token-issuer.key"),
                "SERVER_SSL_TRUST_CERTIFICATE": pki.path("truststore.pem"),
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": clientSecret.path,
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_RELOAD_INTERVAL": "1",
            ])
            for variable in ["SERVER_SSL_KEY_STORE", "SERVER_SSL_KEY_STORE_PASSWORD", "SERVER_SSL_TRUST_STORE",
                             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD",
                             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS",
                             "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD"] {
                environment.removeValue(forKey: variable)
            }
            let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
            let issuer = try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let port = await issuer.port.port()
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                    // The listener presents the PEM chain; the emulator's listener (secret directory) is reached too.
                    let token = try await post(client, "https://localhost:\(port)/v1/token")
                    #expect(token.status == 200, "\(String(decoding: token.body, as: UTF8.self))")
                    #expect(try await Self.assertionThumbprint(client, port: port) == identity.x5tS256)

                    // Rotate the client credential with an atomic ..data swap.
                    let nextCredential = try #require(try? PEMCredentialLoader.load(
                        certificatePath: pki.path("identity-next.cer"), privateKeyPath: { () throws -> String in
                            let path = pki.path("identity-next.key")
                            try SecureFile.write(Array(next.keyPEM.utf8), to: path)
                            return path
                        }(), settings: .clientAssertion).credential)
                    try clientSecret.publish(["tls.crt": try next.pem, "tls.key": next.keyPEM])
                    var active = ""
                    for _ in 0..<100 {
                        let listed = try await get(client, "https://localhost:\(port)/v1/credentials")
                        let decoded = try JSONDecoder().decode(CredentialsResponse.self, from: listed.body)
                        active = decoded.credentials.first { $0.active }?.x5tS256 ?? ""
                        if active == nextCredential.x5tS256 { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    #expect(active == nextCredential.x5tS256, "the new certificate is in use without a restart")
                    let assertion = try await post(client, "https://localhost:\(port)/v1/client-assertion")
                    let decoded = try JSONDecoder().decode(ClientAssertionResponse.self, from: assertion.body)
                    #expect(Self.header(decoded.clientAssertion)["x5t#S256"] as? String == nextCredential.x5tS256)

                    // Entra (the emulator) takes the assertion signed with the new key.
                    let exchange = try await Self.exchange(decoded.clientAssertion, pki: pki, emulatorPort: emulatorPort)
                    #expect(exchange.status == 200, "\(exchange.body)")
                    #expect(logs.all.contains { $0.contains("Certificate rotated") })
                    #expect(!logs.all.joined().contains("PRIVATE KEY"))
                }
            }
        }
    }

    /// A listener configured with both a keystore and a PEM pair, or half a pair, is refused at start.
    @Test func conflictingOrIncompleteSettingsAreRefused() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        var environment = pki.tokenIssuerEnvironment(emulatorPort: 1, extra: ["SERVER_SSL_CERTIFICATE": pki.path("token-issuer.crt")])
        #expect(throws: ConfigurationError.self) { try TokenIssuerConfiguration(environment: EnvironmentReader(environment)) }
        do {
            _ = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
        } catch {
            #expect(error.variable == "SERVER_SSL_CERTIFICATE_PRIVATE_KEY")
        }
        environment["SERVER_SSL_CERTIFICATE_PRIVATE_KEY"] = pki.path("token-issuer.key")
        do {
            _ = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
            Issue.record("a keystore and a PEM pair together must be refused")
        } catch {
            #expect(error.variable == "SERVER_SSL_KEY_STORE")
        }
    }

    static func header(_ jwt: String) -> [String: Any] {
        guard let part = jwt.split(separator: ".").first, let bytes = Base64URL.decode(String(part)),
              let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return [:] }
        return object
    }

    static func assertionThumbprint(_ client: HTTPClient, port: Int) async throws -> String? {
        let assertion = try await post(client, "https://localhost:\(port)/v1/client-assertion")
        let decoded = try JSONDecoder().decode(ClientAssertionResponse.self, from: assertion.body)
        return header(decoded.clientAssertion)["x5t#S256"] as? String
    }

    /// Posts a client assertion to the emulator's token endpoint as any client would.
    static func exchange(_ assertion: String, pki: TestPKI, emulatorPort: Int) async throws -> (status: Int, body: String) {
        let client = try pki.client(withCertificate: false)
        return try await TestPKI.using(client) {
            var request = HTTPClientRequest(url: "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/oauth2/v2.0/token")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            let form = [
                "grant_type=client_credentials", "client_id=\(TestPKI.clientID)",
                "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer",
                "client_assertion=\(assertion)", "scope=\(TestPKI.apiID)%2F.default",
            ].joined(separator: "&")
            request.body = .bytes(ByteBuffer(string: form))
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), String(buffer: body))
        }
    }
}

@Suite(.serialized)
struct PEMListenerReloadTests {
    /// The listener's certificate from a Kubernetes TLS secret directory (`SERVER_SSL_KEY_STORE=<dir>`, its `ca.crt` the
    /// trust store): a renewal published with the kubelet's atomic `..data` swap is served to new connections without
    /// restart (as `openssl s_client` sees it).
    @Test func secretDirectoryListenerReloadsOnDataSwap() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let secret = try SecretVolume(path: pki.path("token-issuer-tls"))
        let pair = try pki.pemPair(ofKeystore: "token-issuer", alias: "token-issuer")
        let caPEM = try String(contentsOfFile: pki.path("ca.crt"), encoding: .utf8)
        try secret.publish(["tls.crt": pair.certificate, "tls.key": pair.key, "ca.crt": caPEM])
        var environment = pki.tokenIssuerEnvironment(emulatorPort: 1, extra: [
            "SERVER_SSL_KEY_STORE": secret.path, "SERVER_SSL_RELOAD_INTERVAL": "1",
        ])
        for variable in ["SERVER_SSL_KEY_STORE_PASSWORD", "SERVER_SSL_TRUST_STORE"] { environment.removeValue(forKey: variable) }
        let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(environment))
        #expect(configuration.listener.trustStore?.path == (secret.path as NSString).appendingPathComponent("ca.crt"))
        let issuer = try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
        try await withServices(issuer.services, logger: logs.logger("group")) {
            let port = await issuer.port.port()
            let first = try #require(try ListenerTLSReloadTests.servedThumbprint(port: port, pki: pki))
            let ca = try pki.certificateAuthority()
            let renewed = try DevPKI.issueService("token-issuer", ca: ca)
            try secret.publish(["tls.crt": try renewed.pem, "tls.key": renewed.keyPEM, "ca.crt": caPEM])
            let expected = try ListenerTLSReloadTests.thumbprint(renewed)
            #expect(first != expected)
            var served = first
            for _ in 0..<100 where served != expected {
                try await Task.sleep(for: .milliseconds(100))
                served = try ListenerTLSReloadTests.servedThumbprint(port: port, pki: pki) ?? served
            }
            #expect(served == expected, "the renewed certificate from the swapped secret is served without restart")
        }
    }
}
