import Crypto
import Foundation
import Keystore
import _CryptoExtras
import WireFormat

/// Signing and verifying compact JWS, one place each: swift-crypto, except RSA signatures when an `OpenSSLRSASigner`
/// is given. Reading is ``StrictJWS``'s.
public enum JWS {
    /// Signs `claims` under `header` with `key`; the header's `alg` picks the padding (RS256: PKCS#1 v1.5, PS256: PSS).
    /// `rsaSigner`, when given (``Credential/rsaSigner``), signs RS256 and PS256 in place of swift-crypto.
    public static func sign<Claims: Encodable>(
        header: JOSEHeader, claims: Claims, key: SigningKey, rsaSigner: OpenSSLRSASigner? = nil
    ) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let headerPart = Base64URL.encode(try encoder.encode(header))
        let payloadPart = Base64URL.encode(try encoder.encode(claims))
        let input = Array("\(headerPart).\(payloadPart)".utf8)
        guard let algorithm = JWSAlgorithm(rawValue: header.alg) else {
            throw JWSError(.unsupportedAlgorithm, "algorithm \(header.alg) is not supported for signing; use RS256, PS256 or ES256")
        }
        let signature = try signature(for: input, algorithm: algorithm, key: key, rsaSigner: rsaSigner)
        return "\(headerPart).\(payloadPart).\(Base64URL.encode(signature))"
    }

    /// The raw signature over `input`.
    public static func signature(
        for input: [UInt8], algorithm: JWSAlgorithm, key: SigningKey, rsaSigner: OpenSSLRSASigner? = nil
    ) throws -> [UInt8] {
        let digest = SHA256.hash(data: input)
        if let rsaSigner, case .rsa = key, algorithm == .rs256 || algorithm == .ps256,
            let signature = rsaSigner.signature(forSHA256: Array(digest), padding: algorithm == .ps256 ? .pss : .pkcs1v15)
        {
            return signature
        }
        switch (algorithm, key) {
        case (.rs256, .rsa(let rsa)):
            return Array(try rsa.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.ps256, .rsa(let rsa)):
            return Array(try rsa.signature(for: digest, padding: .PSS).rawRepresentation)
        case (.es256, .p256(let ec)):
            return Array(try ec.signature(for: digest).rawRepresentation)
        default:
            throw JWSError(.algorithmKeyMismatch,
                           "algorithm \(algorithm.rawValue) does not fit the key type; RSA keys sign RS256 or PS256, P-256 keys ES256")
        }
    }

    /// Whether `signature` over the signing input whose SHA-256 is `digest` is valid for `algorithm` under `key`; false
    /// when the algorithm does not fit the key type. The one signature check of the suite.
    public static func verify(_ signature: Data, digest: SHA256.Digest, algorithm: JWSAlgorithm, key: VerificationKey) -> Bool {
        switch (algorithm, key) {
        case (.rs256, .rsa(let rsa)):
            return rsa.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest,
                                        padding: .insecurePKCS1v1_5)
        case (.ps256, .rsa(let rsa)):
            return rsa.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: digest,
                                        padding: .PSS)
        case (.es256, .p256(let ec)):
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return ec.isValidSignature(signature, for: digest)
        default:
            return false
        }
    }

    /// Whether the signature of `jws` is valid for its header's algorithm under `key`.
    public static func verify(_ jws: StrictJWS, key: VerificationKey) -> Bool {
        verify(jws.signature, digest: jws.digest, algorithm: jws.algorithm, key: key)
    }

    /// Refuses `algorithm` for `key` (named `keyID`) when the two do not fit: the key's type, or the JWK's own `alg`
    /// (`keyAlgorithm`). The same refusal, with the same message, wherever a token meets its key.
    public static func checkFit(
        _ algorithm: JWSAlgorithm, key: VerificationKey, keyID: String, keyAlgorithm: JWSAlgorithm? = nil
    ) throws(JWSError) {
        let ownFits = keyAlgorithm.map { $0 == algorithm } ?? true
        guard ownFits, key.fits(algorithm) else {
            let own = keyAlgorithm.map { ", JWK alg \($0.rawValue)" } ?? ""
            throw JWSError(
                .algorithmKeyMismatch,
                "token alg \(algorithm.rawValue) does not fit key \(quoted(keyID)) (\(key.keyDescription)\(own)); the "
                    + "header was altered or names the wrong key — the token is refused")
        }
    }
}
