import CPKCS12
import Synchronization

/// An RSA private key held by the system OpenSSL 3 libcrypto, for signing SHA-256 digests (RS256, PS256).
///
/// Client assertions are signed here rather than with swift-crypto: on CPUs with AVX-512 IFMA, OpenSSL 3 computes
/// RSA-2048 private-key operations with IFMA code that BoringSSL lacks, 2.4 × faster (`make bench`,
/// `assertion_sign`); elsewhere the two are within a few percent. Verification stays with swift-crypto.
///
/// The key handle (with its reusable OpenSSL signing contexts) sits in a `Mutex`, which makes the class `Sendable`
/// without unchecked claims; signing holds it, so one key signs on one thread at a time, as the C side requires (an
/// assertion is signed per token fetch or `/v1/client-assertion` call).
public final class OpenSSLRSASigner: Sendable {
    private let key: Mutex<OpaquePointer>
    /// The length of every signature (the modulus size in bytes).
    public let signatureLength: Int

    /// Parses `der` (PKCS#1 or PKCS#8); nil when it is not an RSA private key OpenSSL accepts.
    public init?(der: [UInt8]) {
        guard let handle = der.withUnsafeBufferPointer({ crsasign_key_new($0.baseAddress, $0.count) }) else { return nil }
        let length = crsasign_key_size(handle)
        guard length > 0 else {
            crsasign_key_free(handle)
            return nil
        }
        self.key = Mutex(handle)
        self.signatureLength = length
    }

    deinit {
        key.withLock { crsasign_key_free($0) }
    }

    public enum Padding: Sendable {
        /// RSASSA-PKCS1-v1_5 (RS256).
        case pkcs1v15
        /// RSASSA-PSS, MGF1-SHA-256, 32-byte salt (PS256).
        case pss
    }

    /// The signature of a SHA-256 `digest` (32 bytes); nil if OpenSSL refuses (it does not for a key it parsed).
    public func signature(forSHA256 digest: [UInt8], padding: Padding) -> [UInt8]? {
        guard digest.count == 32 else { return nil }
        var output = [UInt8](repeating: 0, count: signatureLength)
        var written = 0
        let signed = key.withLock { handle in
            digest.withUnsafeBufferPointer { digest in
                output.withUnsafeMutableBufferPointer { out in
                    crsasign_sign_sha256(handle, padding == .pss ? 1 : 0, digest.baseAddress, digest.count, out.baseAddress, &written)
                }
            }
        }
        guard signed == 1, written > 0, written <= output.count else { return nil }
        return Array(output.prefix(written))
    }
}
