import Crypto
import Foundation
import WireFormat
import X509

/// A private key with its certificate and chain, loaded from a keystore.
public struct Credential: Sendable {
    public let alias: String
    /// The leaf certificate.
    public let certificate: Certificate
    public let certificateDER: [UInt8]
    /// Leaf first, then the issuers found in the keystore, ordered by issuer links (no duplicates).
    public let chain: [Certificate]
    /// Same order as `chain`.
    public let chainDER: [[UInt8]]
    public let privateKey: SigningKey
    /// The RSA key as OpenSSL holds it, for signing (see ``OpenSSLRSASigner``); nil for EC keys, or if OpenSSL could
    /// not take the key (swift-crypto signs then).
    public let rsaSigner: OpenSSLRSASigner?

    public init(
        alias: String,
        certificate: Certificate,
        certificateDER: [UInt8],
        chain: [Certificate],
        chainDER: [[UInt8]],
        privateKey: SigningKey
    ) {
        self.alias = alias
        self.certificate = certificate
        self.certificateDER = certificateDER
        self.chain = chain
        self.chainDER = chainDER
        self.privateKey = privateKey
        if case .rsa = privateKey {
            var der = privateKey.derRepresentation
            self.rsaSigner = OpenSSLRSASigner(der: der)
            for index in der.indices { der[index] = 0 }  // best effort: the copy of the key material is not left behind
        } else {
            self.rsaSigner = nil
        }
    }

    /// SHA-1 of the leaf certificate DER.
    public var sha1Thumbprint: [UInt8] {
        Thumbprint.sha1(der: certificateDER)
    }

    /// SHA-256 of the leaf certificate DER.
    public var sha256Thumbprint: [UInt8] {
        Thumbprint.sha256(der: certificateDER)
    }

    /// JOSE `x5t`: base64url (no padding) of the SHA-1 thumbprint.
    public var x5t: String { Base64URL.encode(sha1Thumbprint) }

    /// JOSE `x5t#S256`: base64url (no padding) of the SHA-256 thumbprint.
    public var x5tS256: String { Base64URL.encode(sha256Thumbprint) }

    /// Upper-case hex SHA-1 thumbprint, as shown by Azure/Entra for uploaded certificates.
    public var sha1ThumbprintHex: String {
        Hex.encode(sha1Thumbprint, uppercase: true)
    }

    /// The leaf subject in RFC 4514 order.
    public var subject: String { certificate.subject.description }

    public var notValidBefore: Date { certificate.notValidBefore }

    public var notValidAfter: Date { certificate.notValidAfter }
}

/// The result of loading a keystore.
public struct LoadedKeystore: Sendable {
    public let credential: Credential
    /// All aliases present in the file (friendly names of key entries and trusted-certificate entries).
    public let aliases: [String]
    /// Non-fatal problems worth logging (file permissions, certificate about to expire, ...).
    public let warnings: [String]

    public init(credential: Credential, aliases: [String], warnings: [String]) {
        self.credential = credential
        self.aliases = aliases
        self.warnings = warnings
    }
}
