import AsyncHTTPClient
import AuthProtocol
import DevPKI
import Foundation
import Keystore
import NIOCore
import NIOHTTP1
import SwiftASN1
import Synchronization
import Testing
import TestSupport
import X509

/// Issue 19 items 3 and 4 with the emulator and token-issuer as processes: overlapping credentials (current and next)
/// and zero-touch rotation at Entra through Graph addKey/removeKey.
@Suite(.serialized)
struct CredentialRotationProcessTests {
    static let applicationObjectID = "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11"

    /// apps.json with the client app's object id (the Graph proof's `iss`) and the given certificate files.
    static func writeApps(_ pki: TestPKI, certificates: [String]) throws {
        let list = certificates.map { "\"\($0)\"" }.joined(separator: ", ")
        let apps = """
        {"tenant_id": "\(TestPKI.tenantID)",
         "apps": [
          {"client_id": "\(TestPKI.clientID)", "name": "identity", "object_id": "\(applicationObjectID)", "certificates": [\(list)],
           "app_roles_granted": {"\(TestPKI.apiID)": ["Admin", "Reader"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        try Data(apps.utf8).write(to: URL(fileURLWithPath: pki.path("apps.json")))
    }

    /// A new client certificate for the app (same subject as the dev PKI's `identity`), its PEM files written.
    static func newClientCertificate(_ pki: TestPKI, name: String) throws -> (certificate: IssuedCertificate, x5tS256: String) {
        let ca = try pki.certificateAuthority()
        let issued = try DevPKI.issue(
            subject: try DistinguishedName { OrganizationName("CertAuth dev"); CommonName("identity") }, usage: .client, issuer: ca)
        try SecureFile.write(Array(try issued.pem.utf8), to: pki.path("\(name).crt"), mode: 0o644)
        try SecureFile.write(Array(issued.keyPEM.utf8), to: pki.path("\(name).key"))
        return (issued, Self.thumbprint(issued.certificate))
    }

    static func thumbprint(_ certificate: Certificate) -> String {
        certificate.x5tS256 ?? ""
    }

    /// The dev PKI's current client credential as PEM text.
    static func currentPEM(_ pki: TestPKI) throws -> (certificate: String, key: String, x5tS256: String) {
        let credential = try KeystoreLoader.load(
            path: pki.path("identity.p12"), password: TestPKI.password, alias: "identity", keyPassword: nil, settings: .testCredential).credential
        return (try credential.certificate.serializeAsPEM().pemString + "\n", credential.privateKey.pkcs8PEMRepresentation + "\n", credential.x5tS256)
    }

    static func registeredKeys(_ client: HTTPClient, emulatorManagement: Int) async throws -> [String] {
        let response = try await client.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(emulatorManagement)/_emulator/apps/\(TestPKI.clientID)/keys"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        let keys = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [[String: String]] ?? []
        return keys.compactMap { $0["x5t#S256"] }
    }

    static func issuerEnvironment(_ pki: TestPKI, emulatorPort: Int, extra: [String: String]) -> [String: String] {
        var environment = pki.tokenIssuerEnvironment(emulatorPort: emulatorPort, extra: extra)
        for variable in ["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD",
                         "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS",
                         "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD"]
        where extra[variable] == nil {
            environment.removeValue(forKey: variable)
        }
        return environment
    }

    /// A current credential Entra knows and a next one it does not: the token request succeeds (the next one, newer,
    /// is tried, refused with AADSTS700027, and the current one signs); both are listed with their expiry in
    /// `/v1/credentials`, health and `certauth_certificate_expiration_timestamp_seconds{role,x5t_s256}`. With both
    /// registered, the newer one signs.
    @Test func currentAndNextCredentialsFallBackAndAreListedWithTheirExpiry() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let current = try Self.currentPEM(pki)
        try SecureFile.write(Array(current.certificate.utf8), to: pki.path("identity-current.crt"), mode: 0o644)
        try SecureFile.write(Array(current.key.utf8), to: pki.path("identity-current.key"))
        let next = try Self.newClientCertificate(pki, name: "identity-next")

        for nextRegistered in [false, true] {
            try Self.writeApps(pki, certificates: nextRegistered ? ["identity.cer", "identity-next.crt"] : ["identity.cer"])
            var processes: [Process] = []
            defer { for process in processes where process.isRunning { process.terminate(); process.waitUntilExit() } }
            let emulator = try await ProcessTests.startBound("entra-emulator", environment: pki.emulatorEnvironment(), log: pki.path("emulator-\(nextRegistered).log"))
            processes.append(emulator.process)
            let issuer = try await ProcessTests.startBound("token-issuer", environment: Self.issuerEnvironment(pki, emulatorPort: emulator.port, extra: [
                // The current credential as a PKCS#12 keystore, the next one as a PEM pair.
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD": TestPKI.password,
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS": "identity",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_CERTIFICATE": pki.path("identity-next.crt"),
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_PRIVATE_KEY": pki.path("identity-next.key"),
            ]), log: pki.path("issuer-\(nextRegistered).log"))
            processes.append(issuer.process)

            let client = try pki.workloadClient()
            try await TestPKI.using(client) {
                let token = try await Self.post(client, "https://localhost:\(issuer.port)/v1/token")
                #expect(token.status == 200, "\(token.body)")
                let listed = try await client.execute(HTTPClientRequest(url: "https://localhost:\(issuer.port)/v1/credentials"), timeout: .seconds(30))
                let credentials = try JSONDecoder().decode(
                    CredentialsResponse.self, from: Data(try await listed.body.collect(upTo: 1 << 20).readableBytesView)).credentials
                #expect(credentials.count == 2)
                let listedNext = credentials.first { $0.slot == "next" }
                let listedCurrent = credentials.first { $0.slot == "current" }
                #expect(listedNext?.x5tS256 == next.x5tS256 && listedCurrent?.x5tS256 == current.x5tS256)
                let nextNotAfter = listedNext.flatMap { ISO8601DateFormatter().date(from: $0.notAfter) }?.timeIntervalSince1970
                #expect(nextNotAfter.map { abs($0 - next.certificate.certificate.notValidAfter.timeIntervalSince1970) < 1 } == true)
                if nextRegistered {
                    #expect(listedNext?.active == true && listedNext?.idpStatus == "accepted", "the newest accepted certificate signs")
                } else {
                    #expect(listedCurrent?.active == true && listedCurrent?.idpStatus == "accepted")
                    #expect(listedNext?.idpStatus == "refused")
                }

                let health = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(issuer.management)/actuator/health"), timeout: .seconds(10))
                let healthText = String(buffer: try await health.body.collect(upTo: 1 << 20))
                #expect(healthText.contains(next.x5tS256) && healthText.contains(current.x5tS256), "health lists both: \(healthText)")
                #expect(healthText.contains("next.not_after"))

                let metrics = try await MetricsProcessTests.scrape(client, issuer.management)
                let name = "certauth_certificate_expiration_timestamp_seconds"
                #expect(metrics.values(name, ["role": "client_credential_next", "x5t_s256": next.x5tS256])
                    == [next.certificate.certificate.notValidAfter.timeIntervalSince1970])
                #expect(metrics.values(name, ["role": "client_credential", "x5t_s256": current.x5tS256]).count == 1)
                #expect(metrics.values("certauth_credential_fallbacks_total") == (nextRegistered ? [] : [1])
                    || metrics.samples["certauth_credential_fallbacks_total"] == (nextRegistered ? 0 : 1))
            }
            let log = (try? String(contentsOfFile: pki.path("issuer-\(nextRegistered).log"), encoding: .utf8)) ?? ""
            if !nextRegistered {
                #expect(log.contains("IdP refused the certificate; retrying with the other one"))
                #expect(log.contains("700027"))
            }
            #expect(!log.contains("PRIVATE KEY") && !log.contains(TestPKI.password))
        }
    }

    /// Acceptance of issue 19 item 4: a new certificate written to disk (a Kubernetes secret volume's atomic `..data`
    /// swap) while callers keep asking for tokens ends with exactly the new key registered at the emulator (Graph
    /// addKey, then removeKey of the old one after the grace period), no failed token request, and the same
    /// token-issuer process throughout.
    @Test func newCertificateOnDiskUnderLoadEndsWithExactlyTheNewKeyAtEntra() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try Self.writeApps(pki, certificates: ["identity.cer"])
        let current = try Self.currentPEM(pki)
        let secret = try SecretVolume(path: pki.path("identity-tls"))
        try secret.publish(["tls.crt": current.certificate, "tls.key": current.key])

        var processes: [Process] = []
        defer { for process in processes where process.isRunning { process.terminate(); process.waitUntilExit() } }
        // Tokens of 4 s: token-issuer exchanges every couple of seconds under load, across the whole rotation.
        let emulator = try await ProcessTests.startBound("entra-emulator", environment: pki.emulatorEnvironment(extra: [
            "ENTRA_EMULATOR_TOKEN_LIFETIME": "4",
        ]), log: pki.path("emulator.log"))
        processes.append(emulator.process)
        let issuer = try await ProcessTests.startBound("token-issuer", environment: Self.issuerEnvironment(pki, emulatorPort: emulator.port, extra: [
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": secret.path,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_RELOAD_INTERVAL": "1",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_APPLICATION_OBJECT_ID": Self.applicationObjectID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_GRACE_PERIOD": "3",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRAPH_URL": "https://localhost:\(emulator.port)",
        ]), log: pki.path("issuer.log"))
        processes.append(issuer.process)
        let pid = issuer.process.processIdentifier

        let client = try pki.workloadClient()
        try await TestPKI.using(client) {
            #expect(try await Self.registeredKeys(client, emulatorManagement: emulator.management) == [current.x5tS256])
            let state = LoadState()
            try await withThrowingTaskGroup(of: Void.self) { load in
                for _ in 0..<16 {
                    load.addTask {
                        while !state.stop.load(ordering: .relaxed) {
                            do {
                                let response = try await Self.post(client, "https://localhost:\(issuer.port)/v1/token")
                                state.outcomes.withLock { if response.status == 200 { $0.ok += 1 } else { $0.failed.append("\(response.status) \(response.body.prefix(300))") } }
                            } catch {
                                state.outcomes.withLock { $0.failed.append("\(error)") }
                            }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
                try await Task.sleep(for: .seconds(2))
                // cert-manager renews: a new certificate and key in the secret, swapped atomically.
                let next = try Self.newClientCertificate(pki, name: "identity-renewed")
                try secret.publish(["tls.crt": try next.certificate.pem, "tls.key": next.certificate.keyPEM])
                var registered: [String] = []
                for _ in 0..<600 {
                    registered = try await Self.registeredKeys(client, emulatorManagement: emulator.management)
                    if registered == [next.x5tS256] { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(registered == [next.x5tS256], "exactly the new key is registered at Entra")
                // Tokens keep coming with the old key gone: the new one signs.
                try await Task.sleep(for: .seconds(5))
                state.stop.store(true, ordering: .relaxed)
                try await load.waitForAll()

                let listed = try await client.execute(HTTPClientRequest(url: "https://localhost:\(issuer.port)/v1/credentials"), timeout: .seconds(30))
                let credentials = try JSONDecoder().decode(
                    CredentialsResponse.self, from: Data(try await listed.body.collect(upTo: 1 << 20).readableBytesView)).credentials
                #expect(credentials.first { $0.active }?.x5tS256 == next.x5tS256)
                #expect(!credentials.contains { $0.x5tS256 == current.x5tS256 && $0.idpStatus != "removed" })
            }
            let (ok, failed) = state.outcomes.withLock { ($0.ok, $0.failed) }
            #expect(failed.isEmpty, "no failed token request: \(failed.prefix(5))")
            #expect(ok > 100)

            let metrics = try await MetricsProcessTests.scrape(client, issuer.management)
            for step in ["add_key", "verify", "switch", "remove_key"] {
                #expect(metrics.values("certauth_credential_rotation_steps_total", ["step": step, "outcome": "success"]).first == 1, "\(step)")
            }
        }
        #expect(issuer.process.isRunning && issuer.process.processIdentifier == pid, "no restart")
        let log = (try? String(contentsOfFile: pki.path("issuer.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("Rotation step done"))
        #expect(!log.contains("PRIVATE KEY") && !log.contains(TestPKI.password))
        let emulatorLog = (try? String(contentsOfFile: pki.path("emulator.log"), encoding: .utf8)) ?? ""
        #expect(emulatorLog.contains("Graph addKey: certificate registered") && emulatorLog.contains("Graph removeKey: certificate removed"))
    }

    static func post(_ client: HTTPClient, _ url: String) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "{}"))
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }
}

/// Callers' shared state in a load test: the stop flag and what the requests got.
final class LoadState: Sendable {
    let stop = Atomic<Bool>(false)
    let outcomes = Mutex<(ok: Int, failed: [String])>((0, []))
}

