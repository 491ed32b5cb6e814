import Crypto
import Keystore
import NIOCore
import NIOSSL
import Synchronization

/// A listener's RSA private key, signing TLS handshakes with the system OpenSSL 3 (``OpenSSLRSASigner``) while
/// BoringSSL (swift-nio-ssl) runs the rest of TLS (issue 16 item 3, "TLS chosen by measurement").
///
/// The one private-key operation of a server handshake, the CertificateVerify signature, is most of its CPU; on CPUs
/// with AVX-512 IFMA OpenSSL 3 computes RSA-2048 signatures 2.4 × faster than BoringSSL (bench/README.md), while
/// BoringSSL's record layer stays as measured. swift-nio-ssl hands the signature to this key
/// (`NIOSSLCustomPrivateKey`) on the connection's event loop; it is made at once, as BoringSSL would make it there.
///
/// One OpenSSL key handle signs on one thread at a time, so the key keeps one handle per event-loop thread it may be
/// called on (picked round robin; two handshakes meet on a handle only when more run at once than there are handles).
public final class OpenSSLServerKey: NIOSSLCustomPrivateKey, Hashable, Sendable {
    private let signers: [OpenSSLRSASigner]
    private let next = Atomic<Int>(0)

    /// TLS 1.3's RSA-PSS with SHA-256 and TLS 1.2's PKCS#1 v1.5 with SHA-256: what the OpenSSL signer makes, and what
    /// every TLS client offers (curl, OpenSSL, BoringSSL, Go, Java, Python, nginx as a client).
    public let signatureAlgorithms: [SignatureAlgorithm] = [.rsaPssRsaeSha256, .rsaPkcs1Sha256]

    /// Nil for keys that are not RSA or that OpenSSL does not take (swift-nio-ssl then signs with BoringSSL).
    public init?(_ credential: Credential, handles: Int = System.coreCount) {
        guard case .rsa = credential.privateKey else { return nil }
        var der = credential.privateKey.derRepresentation
        defer { for index in der.indices { der[index] = 0 } }  // best effort: no copy of the key material left behind
        var signers: [OpenSSLRSASigner] = []
        for _ in 0..<max(1, handles) {
            guard let signer = OpenSSLRSASigner(der: der) else { return nil }
            signers.append(signer)
        }
        self.signers = signers
    }

    public struct SigningFailure: Error, CustomStringConvertible {
        public var description: String
    }

    public func sign(channel: any Channel, algorithm: SignatureAlgorithm, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        let padding: OpenSSLRSASigner.Padding
        switch algorithm {
        case .rsaPssRsaeSha256: padding = .pss
        case .rsaPkcs1Sha256: padding = .pkcs1v15
        default:
            return channel.eventLoop.makeFailedFuture(SigningFailure(description: "the TLS client asked for signature algorithm \(algorithm.rawValue), which this listener does not offer (it signs with RSA-PSS or PKCS#1 v1.5 over SHA-256); the client must offer one of those"))
        }
        let digest = data.withUnsafeReadableBytes { Array(SHA256.hash(data: $0)) }
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        let signer = signers[Int(UInt(bitPattern: index) % UInt(signers.count))]
        guard let signature = signer.signature(forSHA256: digest, padding: padding) else {
            return channel.eventLoop.makeFailedFuture(SigningFailure(description: "OpenSSL could not sign the TLS handshake with the listener's RSA key; check the key in SERVER_SSL_KEY_STORE (certauth check-config) and the system's libssl3"))
        }
        return channel.eventLoop.makeSucceededFuture(ByteBuffer(bytes: signature))
    }

    /// Only for TLS 1.2's RSA key exchange, which the listeners do not offer (their cipher suites are ECDHE).
    public func decrypt(channel: any Channel, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        channel.eventLoop.makeFailedFuture(SigningFailure(description: "RSA key exchange is not offered by this listener (TLS 1.2 with ECDHE, or TLS 1.3); the client must use one of those"))
    }

    public static func == (lhs: OpenSSLServerKey, rhs: OpenSSLServerKey) -> Bool { lhs === rhs }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(self))
    }
}
