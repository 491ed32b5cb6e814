import AsyncHTTPClient
import AuthProtocol
import ClientAssertion
import JOSE
import DevPKI
import EntraEmulator
import Foundation
import Keystore
import Logging
import NIOCore
import NIOHTTP1
import ServiceSupport
import SwiftASN1
import Testing
import TestSupport
@testable import TokenIssuer
import WireFormat
import X509

/// The emulator's Microsoft Graph `application: addKey` / `removeKey` and their documented checks, and a rotation whose
/// Graph step fails: the working certificate stays in use.
@Suite(.serialized)
struct GraphKeyRotationTests {
    static let objectID = "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11"

    static func writeApps(_ pki: TestPKI) throws {
        let apps = """
        {"tenant_id": "\(TestPKI.tenantID)",
         "apps": [
          {"client_id": "\(TestPKI.clientID)", "name": "identity", "object_id": "\(objectID)", "certificates": ["identity.cer"],
           "app_roles_granted": {"\(TestPKI.apiID)": ["Admin", "Reader"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        try Data(apps.utf8).write(to: URL(fileURLWithPath: pki.path("apps.json")))
    }

    static func identity(_ pki: TestPKI) throws -> Credential {
        try KeystoreLoader.load(
            path: pki.path("identity.p12"), password: TestPKI.password, alias: "identity", keyPassword: nil, settings: .clientAssertion).credential
    }

    /// A new client credential of the same subject, as token-issuer would load it.
    static func newCredential(_ pki: TestPKI, name: String) throws -> Credential {
        let issued = try DevPKI.issue(
            subject: try DistinguishedName { OrganizationName("CertAuth dev"); CommonName("identity") },
            usage: .client, issuer: try pki.certificateAuthority())
        try SecureFile.write(Array(try issued.pem.utf8), to: pki.path("\(name).crt"), mode: 0o644)
        try SecureFile.write(Array(issued.keyPEM.utf8), to: pki.path("\(name).key"))
        return try PEMCredentialLoader.load(
            certificatePath: pki.path("\(name).crt"), privateKeyPath: pki.path("\(name).key"), settings: .clientAssertion).credential
    }

    /// A token from the emulator for `scope`, with an assertion signed by `credential` (status and body).
    static func token(_ client: HTTPClient, port: Int, credential: Credential, scope: String) async throws -> (status: Int, body: String) {
        let endpoint = "https://localhost:\(port)/\(TestPKI.tenantID)/oauth2/v2.0/token"
        let assertion = try ClientAssertionBuilder.make(
            credential: credential, settings: ClientAssertionSettings(clientID: TestPKI.clientID), audience: endpoint)
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: FormURLEncoding.encode([
            ("grant_type", "client_credentials"), ("client_id", TestPKI.clientID), ("scope", scope),
            ("client_assertion_type", ClientAssertionResponse.jwtBearerType), ("client_assertion", assertion.token),
        ])))
        let response = try await client.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    static func accessToken(_ body: String) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        return object?["access_token"] as? String ?? ""
    }

    struct Proof: Encodable { var aud: String; var iss: String; var nbf: Int; var exp: Int }

    static func proof(_ signer: Credential, aud: String = GraphKeyClient.proofAudience, iss: String = objectID, lifetime: Int = 600) throws -> String {
        let now = Int(Date().timeIntervalSince1970)
        return try JWS.sign(
            header: JOSEHeader(alg: "RS256", typ: "JWT", kid: signer.sha1ThumbprintHex, x5t: signer.x5t),
            claims: Proof(aud: aud, iss: iss, nbf: now, exp: now + lifetime), key: signer.privateKey)
    }

    static func graph(_ client: HTTPClient, port: Int, action: String, token: String, body: String, selector: String = "applications/\(objectID)") async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "https://localhost:\(port)/v1.0/\(selector)/\(action)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    static func addKeyBody(_ certificate: Credential, proof: String, type: String = "AsymmetricX509Cert") -> String {
        #"{"keyCredential": {"type": "\#(type)", "usage": "Verify", "key": "\#(Data(certificate.certificateDER).base64EncodedString())"}, "passwordCredential": null, "proof": "\#(proof)"}"#
    }

    @Test func emulatorGraphAddKeyAndRemoveKeyCheckTheTokenAndTheProof() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try Self.writeApps(pki)
        let logs = CapturedLogs()
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let port = await emulator.port.port()
            let client = try pki.client(withCertificate: false)
            try await TestPKI.using(client) {
                let current = try Self.identity(pki)
                let next = try Self.newCredential(pki, name: "next")
                let stranger = try Self.newCredential(pki, name: "stranger")
                let graphToken = Self.accessToken(try await Self.token(client, port: port, credential: current, scope: "https://graph.microsoft.com/.default").body)
                let apiToken = Self.accessToken(try await Self.token(client, port: port, credential: current, scope: "\(TestPKI.apiID)/.default").body)
                #expect(!graphToken.isEmpty && !apiToken.isEmpty)
                #expect(try await Self.token(client, port: port, credential: next, scope: "\(TestPKI.apiID)/.default").status == 401, "not registered yet")

                // Refusals, each with Graph's error shape; none registers the key.
                let refusals: [(String, String, Int, String)] = [
                    ("proof audience", Self.addKeyBody(next, proof: try Self.proof(current, aud: "https://graph.microsoft.com")), 401, "Authentication_MissingOrMalformed"),
                    ("proof over 10 minutes", Self.addKeyBody(next, proof: try Self.proof(current, lifetime: 660)), 401, "Authentication_MissingOrMalformed"),
                    ("proof issuer is the client id", Self.addKeyBody(next, proof: try Self.proof(current, iss: TestPKI.clientID)), 401, "Authentication_MissingOrMalformed"),
                    ("proof signed by an unregistered key", Self.addKeyBody(next, proof: try Self.proof(stranger)), 401, "Authentication_MissingOrMalformed"),
                    ("keyCredential type", Self.addKeyBody(next, proof: try Self.proof(current), type: "Symmetric"), 400, "Request_BadRequest"),
                    ("no proof", #"{"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": "AA=="}}"#, 400, "Request_BadRequest"),
                ]
                for (what, body, status, code) in refusals {
                    let answer = try await Self.graph(client, port: port, action: "addKey", token: graphToken, body: body)
                    #expect(answer.status == status && answer.body.contains(code), "\(what): \(answer)")
                }
                let wrongAudience = try await Self.graph(client, port: port, action: "addKey", token: apiToken, body: Self.addKeyBody(next, proof: try Self.proof(current)))
                #expect(wrongAudience.status == 401 && wrongAudience.body.contains("InvalidAuthenticationToken"), "a token for another resource")
                #expect(await emulator.apps.snapshot().apps[TestPKI.clientID]?.certificates.count == 1)

                // addKey by the appId addressing, proof signed by the registered key: the new key works at once.
                let added = try await Self.graph(
                    client, port: port, action: "addKey", token: graphToken, body: Self.addKeyBody(next, proof: try Self.proof(current)),
                    selector: "applications(appId='\(TestPKI.clientID)')")
                #expect(added.status == 200, "\(added.body)")
                let keyCredential = try JSONDecoder().decode(GraphKeyCredential.self, from: Data(added.body.utf8))
                #expect(keyCredential.type == "AsymmetricX509Cert" && keyCredential.usage == "Verify" && keyCredential.key == nil)
                #expect(keyCredential.customKeyIdentifier == Data(next.sha1Thumbprint).base64EncodedString())
                #expect(try await Self.token(client, port: port, credential: next, scope: "\(TestPKI.apiID)/.default").status == 200)
                let again = try await Self.graph(client, port: port, action: "addKey", token: graphToken, body: Self.addKeyBody(next, proof: try Self.proof(current)))
                #expect(again.status == 400, "the same certificate twice")

                // removeKey of the old key, proof signed by the new one; then the old key is refused (AADSTS700027).
                let oldKeyID = try #require(await emulator.apps.snapshot().apps[TestPKI.clientID]?.certificates.first { $0.x5tS256 == current.x5tS256 }?.keyID)
                let unknown = try await Self.graph(client, port: port, action: "removeKey", token: graphToken,
                                                   body: #"{"keyId": "\#(UUID().uuidString)", "proof": "\#(try Self.proof(next))"}"#)
                #expect(unknown.status == 404)
                let removed = try await Self.graph(client, port: port, action: "removeKey", token: graphToken,
                                                   body: #"{"keyId": "\#(oldKeyID)", "proof": "\#(try Self.proof(next))"}"#)
                #expect(removed.status == 204, "\(removed.body)")
                let refused = try await Self.token(client, port: port, credential: current, scope: "\(TestPKI.apiID)/.default")
                #expect(refused.status == 401 && refused.body.contains("700027"))
                #expect(await emulator.apps.snapshot().apps[TestPKI.clientID]?.certificates.map(\.x5tS256) == [next.x5tS256])
            }
        }
    }

    /// A rotation whose Graph step fails (the object id names no application): the working certificate keeps signing,
    /// the failure is logged, counted and shown in health `rotation`, and nothing changes at Entra.
    @Test func failedGraphStepLeavesTheWorkingCertificateInUse() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try Self.writeApps(pki)
        let logs = CapturedLogs()
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let current = try Self.identity(pki)
            try SecureFile.write(Array((try current.certificate.serializeAsPEM().pemString + "\n").utf8), to: pki.path("current.crt"), mode: 0o644)
            try SecureFile.write(Array((current.privateKey.pkcs8PEMRepresentation + "\n").utf8), to: pki.path("current.key"))
            let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: [
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": "",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_CERTIFICATE": pki.path("current.crt"),
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_PRIVATE_KEY": pki.path("current.key"),
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_RELOAD_INTERVAL": "1",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_ENABLED": "true",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_APPLICATION_OBJECT_ID": "11111111-2222-3333-4444-555555555555",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRAPH_URL": "https://localhost:\(emulatorPort)",
            ])
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let port = await issuer.port.port()
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                    let first = try await post(client, "https://localhost:\(port)/v1/token")
                    #expect(first.status == 200)
                    // The renewed certificate replaces the files (same paths).
                    let next = try Self.newCredential(pki, name: "renewed")
                    try FileManager.default.removeItem(atPath: pki.path("current.key"))
                    try FileManager.default.copyItem(atPath: pki.path("renewed.key"), toPath: pki.path("current.key"))
                    try FileManager.default.removeItem(atPath: pki.path("current.crt"))
                    try FileManager.default.copyItem(atPath: pki.path("renewed.crt"), toPath: pki.path("current.crt"))
                    var failed = false
                    for _ in 0..<150 where !failed {
                        try await Task.sleep(for: .milliseconds(100))
                        failed = logs.all.contains { $0.contains("Rotation step failed") && $0.contains("add_key") }
                    }
                    #expect(failed, "the addKey step failed and said so")
                    #expect(issuer.health.snapshot().components["rotation"]?.status == "DEGRADED")
                    await issuer.cache.invalidateAll()
                    let again = try await post(client, "https://localhost:\(port)/v1/token")
                    #expect(again.status == 200, "the working certificate still signs")
                    let listed = try JSONDecoder().decode(CredentialsResponse.self, from: try await get(client, "https://localhost:\(port)/v1/credentials").body)
                    #expect(listed.credentials.first { $0.active }?.x5tS256 == current.x5tS256)
                    #expect(listed.credentials.contains { $0.x5tS256 == next.x5tS256 && $0.active == false })
                    #expect(await emulator.apps.snapshot().apps[TestPKI.clientID]?.certificates.map(\.x5tS256) == [current.x5tS256])
                }
            }
        }
        #expect(logs.all.contains { $0.contains("Request_ResourceNotFound") })
        #expect(!logs.all.joined().contains("PRIVATE KEY"))
    }
}
