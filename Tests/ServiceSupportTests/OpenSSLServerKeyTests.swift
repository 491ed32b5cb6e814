import Crypto
import Foundation
import Keystore
import NIOCore
import NIOEmbedded
import NIOSSL
import ServiceSupport
import Testing
import TestSupport
import _CryptoExtras

/// Listeners sign their TLS handshakes with OpenSSL 3 (issue 16 item 3): the signatures are the ones a client checks
/// with the certificate's public key, in TLS 1.3 and 1.2, and TLS 1.2 without forward secrecy is not offered.
@Suite struct OpenSSLServerKeyTests {
    static func credential() throws -> Credential {
        let pki = try TestPKI.shared()
        return try KeystoreLoader.load(
            path: pki.path("roles.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .serverSSL
        ).credential
    }

    @Test func signaturesVerifyWithTheCertificatesKey() throws {
        let credential = try Self.credential()
        let key = try #require(OpenSSLServerKey(credential, handles: 2))
        guard case .rsa(let rsa) = credential.privateKey else { Issue.record("the test keystore holds an RSA key"); return }
        let channel = EmbeddedChannel()
        let data = ByteBuffer(string: "TLS 1.3, server CertificateVerify\u{0}transcript hash")
        for (algorithm, padding) in [(SignatureAlgorithm.rsaPssRsaeSha256, _RSA.Signing.Padding.PSS), (.rsaPkcs1Sha256, .insecurePKCS1v1_5)] {
            for _ in 0..<3 {  // each handle
                let signature = try key.sign(channel: channel, algorithm: algorithm, data: data).wait()
                let valid = rsa.publicKey.isValidSignature(
                    _RSA.Signing.RSASignature(rawRepresentation: Array(signature.readableBytesView)),
                    for: SHA256.hash(data: Array(data.readableBytesView)), padding: padding)
                #expect(valid, "\(algorithm)")
            }
        }
        #expect(throws: (any Error).self) { try key.sign(channel: channel, algorithm: .rsaPkcs1Sha1, data: data).wait() }
        #expect(key.signatureAlgorithms == [.rsaPssRsaeSha256, .rsaPkcs1Sha256])
    }

    /// openssl s_client (an independent TLS client) completes handshakes only when the server's signature verifies.
    @Test func opensslClientsCompleteHandshakesInTLS13And12() async throws {
        try await HTTP1LeanPathTests.withServer { pki, port in
            let request = HTTP1LeanPathTests.get("/routed", close: true)
            for (arguments, signature) in [
                (["-brief"], "RSA-PSS"),
                (["-brief", "-tls1_2", "-sigalgs", "RSA-PSS+SHA256"], "RSA-PSS"),
                (["-brief", "-tls1_2", "-sigalgs", "RSA+SHA256"], "RSA"),
            ] {
                let answer = try await RawHTTP1.send(port: port, pki: pki, certificate: "client", request: request, tlsArguments: arguments)
                #expect(answer.status == 200, "\(arguments): \(answer.diagnostics)")
                #expect(answer.diagnostics.contains("\nSignature type: \(signature)\n"), "\(arguments): \(answer.diagnostics)")
            }
            // TLS 1.2 with RSA key exchange (no forward secrecy) is refused.
            let rsaKeyExchange = try await RawHTTP1.send(
                port: port, pki: pki, certificate: "client", request: request, tlsArguments: ["-brief", "-tls1_2", "-cipher", "AES128-GCM-SHA256"])
            #expect(rsaKeyExchange.status == 0, "\(rsaKeyExchange.diagnostics)")
        }
    }
}
