import Crypto
import _CryptoExtras
import X509

/// A private key usable for signing client assertions and TLS.
public enum SigningKey: Sendable {
    case rsa(_RSA.Signing.PrivateKey)
    case p256(P256.Signing.PrivateKey)
    case p384(P384.Signing.PrivateKey)

    /// The public key, in the form swift-certificates uses.
    public var certificatePublicKey: Certificate.PublicKey {
        switch self {
        case .rsa(let key): return Certificate.PublicKey(key.publicKey)
        case .p256(let key): return Certificate.PublicKey(key.publicKey)
        case .p384(let key): return Certificate.PublicKey(key.publicKey)
        }
    }

    /// The key as a swift-certificates private key (for signing certificates or CSRs).
    public var certificatePrivateKey: Certificate.PrivateKey {
        switch self {
        case .rsa(let key): return Certificate.PrivateKey(key)
        case .p256(let key): return Certificate.PrivateKey(key)
        case .p384(let key): return Certificate.PrivateKey(key)
        }
    }

    /// DER encoding accepted by `PKCS12Entry.privateKeyDER` (PKCS#1 for RSA, PKCS#8 for EC).
    public var derRepresentation: [UInt8] {
        switch self {
        case .rsa(let key): return Array(key.derRepresentation)
        case .p256(let key): return Array(key.derRepresentation)
        case .p384(let key): return Array(key.derRepresentation)
        }
    }

    /// PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
    public var pkcs8PEMRepresentation: String {
        switch self {
        case .rsa(let key): return key.pkcs8PEMRepresentation
        case .p256(let key): return key.pemRepresentation
        case .p384(let key): return key.pemRepresentation
        }
    }

    /// Key size in bits (RSA modulus size or curve size).
    public var keySizeInBits: Int {
        switch self {
        case .rsa(let key): return key.keySizeInBits
        case .p256: return 256
        case .p384: return 384
        }
    }
}
