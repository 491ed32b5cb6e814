import AsyncHTTPClient
import AuthProtocol
import Crypto
import DevPKI
import Foundation
import NIOSSL
import SwiftASN1
import Testing
import TestSupport
import X509
import _CryptoExtras

/// The client's chain belongs to its connection, chain validation has a budget and runs off the event loops, and a CA
/// certificate is no client certificate (issues 15, 16 item 4, 17 item 3): authn in process with real TLS.
@Suite(.serialized)
struct ClientChainLiveTests {
    /// root → intermediary (CA) → two component certificates, the root trusted by authn.
    static func seedScheme(_ pki: TestPKI) throws -> [String: String] {
        let root = try DevPKI.makeCA(commonName: "Chain Root CA")
        let intermediary = try DevPKI.issue(subject: try DistinguishedName { CommonName("zeebe-intermediary") }, issuer: root, isCA: true)
        for name in ["operate", "tasklist"] {
            let component = try DevPKI.issue(subject: try DistinguishedName { CommonName(name) }, usage: .client, issuer: intermediary)
            _ = try AuthnFixtures.write(try component.pem, pki, "\(name).pem")
            _ = try AuthnFixtures.write(component.keyPEM, pki, "\(name).key")
        }
        _ = try AuthnFixtures.write(try root.pem, pki, "chain-root.pem")
        _ = try AuthnFixtures.write(try intermediary.pem, pki, "intermediary.pem")
        _ = try AuthnFixtures.write(intermediary.keyPEM, pki, "intermediary.key")
        return ["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "\(pki.path("truststore.pem")),\(pki.path("chain-root.pem"))"]
    }

    @Test func aLeafSentWithoutItsChainIsRefusedWhateverOtherClientsSent() async throws {
        try await AuthnLiveTests().withSuite(extra: { try Self.seedScheme($0) }) { pki, _, ports in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            let intermediary = try IssuedCertificate.load(pki, "intermediary.pem", key: nil)
            let operate = try IssuedCertificate.load(pki, "operate.pem", key: "operate.key")
            let tasklist = try IssuedCertificate.load(pki, "tasklist.pem", key: "tasklist.key")

            try await withClient(try AuthnFixtures.client(pki: pki, leaf: operate, chain: [intermediary])) { withChain in
                let me = try await call(withChain, url)
                #expect(me.status == 200, "\(me.text)")
                #expect(try me.principal().principal == "operate")
            }
            // Another client of the same intermediary, sending only its leaf: the intermediary another connection sent
            // does not help it (it did, through a process-wide pool, before).
            try await withClient(try AuthnFixtures.client(pki: pki, leaf: tasklist)) { leafOnly in
                let me = try await expectOneDecision(leafOnly, management: ports.management, method: "mtls", result: "unauthenticated", "leaf only") {
                    try await call(leafOnly, url)
                }
                #expect(me.status == 401, "\(me.text)")
                #expect(me.text.contains(#""reason":"certificate_untrusted""#), "\(me.text)")
                #expect(me.headers["www-authenticate"]?.contains("CN=zeebe-intermediary") == true, "\(me.headers)")
            }
            // Nor does the verdict cached for the same leaf when it came with its chain.
            try await withClient(try AuthnFixtures.client(pki: pki, leaf: operate)) { sameLeafNoChain in
                let me = try await call(sameLeafNoChain, url)
                #expect(me.status == 401, "\(me.text)")
            }
            try await withClient(try AuthnFixtures.client(pki: pki, leaf: operate, chain: [intermediary])) { again in
                let answer = try await call(again, url)
                #expect(answer.status == 200, "\(answer.text)")
            }
        }
    }

    @Test func aCACertificateIsNoClientCertificate() async throws {
        try await AuthnLiveTests().withSuite(extra: { try Self.seedScheme($0) }) { pki, _, ports in
            let intermediary = try IssuedCertificate.load(pki, "intermediary.pem", key: "intermediary.key")
            try await withClient(try AuthnFixtures.client(pki: pki, leaf: intermediary)) { ca in
                let me = try await expectOneDecision(ca, management: ports.management, method: "mtls", result: "unauthenticated", "CA as client") {
                    try await call(ca, "https://localhost:\(ports.authn)/v2/authentication/me")
                }
                #expect(me.status == 401, "\(me.text)")
                let challenge = me.headers["www-authenticate"] ?? ""
                #expect(challenge.contains("is a CA certificate (basicConstraints CA:TRUE)"), "\(challenge)")
            }
        }
    }

    @Test func aPathologicalChainIsRefusedQuicklyWhileOthersAreServed() async throws {
        try await AuthnLiveTests().withSuite { pki, _, ports in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            // Nine same-subject CAs that cross-sign each other (72 certificates, 9! paths), sent as the client's chain.
            // (With 110 certificates the TLS handshake itself is refused: the server closes the connection.)
            let loop = try PathologicalChains.crossSignedLoop(keys: 9)
            let leafKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let leaf = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
                notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
                issuer: loop.subject, subject: try DistinguishedName { CommonName("looped") },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions { try ExtendedKeyUsage([.clientAuth]) },
                issuerPrivateKey: .init(loop.signer))
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(pki.path("truststore.pem"))
            tls.certificateChain = try ([leaf] + loop.certificates).map { certificate in
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return .certificate(try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der))
            }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(leafKey.pkcs8PEMRepresentation.utf8), format: .pem))
            let attacker = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))

            try await withClient(attacker) { attacker in
            try await withClient(try pki.client()) { regular in
                #expect(try await call(regular, url).status == 200)  // connected and warm
                let clock = ContinuousClock()
                async let refused: (Answer, Duration) = {
                    let start = clock.now
                    let answer = try await call(attacker, url)
                    return (answer, clock.now - start)
                }()
                for _ in 0..<5 {
                    let answer = try await call(regular, url)
                    #expect(answer.status == 200, "\(answer.text)")
                }
                let (answer, elapsed) = try await refused
                #expect(answer.status == 401, "\(answer.text)")
                let challenge = answer.headers["www-authenticate"] ?? ""
                #expect(challenge.contains("path building gave up after 100 candidates"), "\(challenge)")
                // Alone this takes well under a second (the 1 s target is asserted on the certauth process in
                // VerifyChainCLITests); inside the full parallel test run wall time mostly measures the load, so the
                // bound here only tells a bounded search (milliseconds of work) from the unbounded one (9! paths).
                #expect(elapsed < .seconds(15), "the refusal took \(elapsed)")
            }
            }
        }
    }

    /// `openssl ca` over the dev CA of `pki`: revokes and writes CRLs with `openssl ca -revoke` / `-gencrl`.
    static func openssl(_ pki: TestPKI, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: pki.directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FixtureError("openssl \(arguments.joined(separator: " ")): \(text)") }
    }

    static func crlSettings(_ pki: TestPKI) throws -> [String: String] {
        _ = try AuthnFixtures.write("""
            [ ca ]
            default_ca = dev_ca
            [ dev_ca ]
            database = index.txt
            crlnumber = crlnumber
            default_md = sha256
            default_crl_days = 7

            """, pki, "crl-ca.cnf")
        _ = try AuthnFixtures.write("", pki, "index.txt")
        _ = try AuthnFixtures.write("01\n", pki, "crlnumber")
        try openssl(pki, ["ca", "-config", "crl-ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-gencrl", "-out", "dev.crl"])
        return [
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "crl",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS": pki.path("dev.crl"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_RELOAD_INTERVAL": "1",
        ]
    }

    /// Issue 17 acceptance: a revoked leaf is refused within one CRL refresh, including when its earlier verdict was
    /// cached; health shows the CRL.
    @Test func aRevokedCertificateIsRefusedAfterTheNextReloadEvenWhenCached() async throws {
        try await AuthnLiveTests().withSuite(extra: { try Self.crlSettings($0) }) { pki, _, ports in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            try await withClient(try pki.client()) { client in
                #expect(try await call(client, url).status == 200)  // validated and cached
                #expect(try await call(client, url).status == 200)
                try Self.openssl(pki, ["ca", "-config", "crl-ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-revoke", "client.crt"])
                try Self.openssl(pki, ["ca", "-config", "crl-ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-gencrl", "-out", "dev.crl.new"])
                try FileManager.default.removeItem(atPath: pki.path("dev.crl"))
                try FileManager.default.moveItem(atPath: pki.path("dev.crl.new"), toPath: pki.path("dev.crl"))
                let clock = ContinuousClock()
                let start = clock.now
                var answer = try await call(client, url)
                while answer.status == 200, clock.now - start < .seconds(10) {
                    try await Task.sleep(for: .milliseconds(200))
                    answer = try await call(client, url)
                }
                #expect(answer.status == 401, "\(answer.text)")
                #expect(answer.headers["www-authenticate"]?.contains("was revoked at") == true, "\(answer.headers)")
                #expect(answer.text.contains(#""reason":"certificate_revoked""#), "\(answer.text)")
                #expect(clock.now - start < .seconds(5), "refused only after \(clock.now - start)")
            }
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let health = try await call(anonymous, "http://127.0.0.1:\(ports.management)/actuator/health")
                #expect(health.text.contains("\"crl\""), "\(health.text)")
            }
        }
    }
}
