import Foundation
import X509

/// What the certificate must be good for, with OpenSSL's rules (`openssl verify -purpose sslclient|sslserver`).
public enum CertificatePurpose: String, Sendable, CaseIterable {
    /// TLS client authentication (`sslclient`): the default for mTLS callers.
    case client
    /// TLS server authentication (`sslserver`).
    case server
    /// No purpose check (`-purpose any`); CA certificates must still be able to sign certificates.
    case any
}

/// How client certificates are checked (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_*`).
public struct CertificateValidationSettings: Sendable {
    /// Trust anchors. With `requireValidChain == false`, the exact (byte-equal) certificates that are accepted.
    ///
    /// Every certificate listed here is an anchor, self-signed or not (like `openssl verify -partial_chain` and Java's
    /// PKIX trust anchors): listing an intermediate CA trusts what it issued without its root.
    public var trustedCertificates: [Certificate]
    /// true: build and check the whole chain to an anchor. false: accept only a leaf that is itself listed as trusted.
    public var requireValidChain: Bool
    /// What the leaf must be good for; `.client` for mTLS.
    public var purpose: CertificatePurpose
    /// The setting that lists `trustedCertificates`, named in error messages (the CLI names `--trusted`).
    public var trustedCertificatesSetting: String
    /// The setting that holds `requireValidChain`, named in error messages.
    public var requireValidChainSetting: String

    /// The environment variable that lists the trusted certificates.
    public static let trustedCertificatesVariable = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES"
    /// The environment variable that switches chain validation.
    public static let requireValidChainVariable = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REQUIREVALIDCHAIN"

    public init(trustedCertificates: [Certificate], requireValidChain: Bool = true, purpose: CertificatePurpose = .client) {
        self.trustedCertificates = trustedCertificates
        self.requireValidChain = requireValidChain
        self.purpose = purpose
        self.trustedCertificatesSetting = Self.trustedCertificatesVariable
        self.requireValidChainSetting = Self.requireValidChainVariable
    }
}

/// A client certificate that passed validation.
public struct ValidatedCertificate: Sendable {
    /// The client's own certificate.
    public var leaf: Certificate
    /// Leaf first, ending at the trust anchor (just the leaf when it is itself trusted).
    public var chain: [Certificate]
    /// RFC 4514 string of the leaf subject (``DistinguishedNameFormat/string(_:)``).
    public var subject: String
    /// base64url SHA-256 of the leaf DER (`x5t#S256`).
    public var thumbprintSHA256: String
    /// The earliest notValidAfter along the chain: when this validation stops holding.
    public var notValidAfter: Date

    public init(leaf: Certificate, chain: [Certificate], subject: String, thumbprintSHA256: String, notValidAfter: Date) {
        self.leaf = leaf
        self.chain = chain
        self.subject = subject
        self.thumbprintSHA256 = thumbprintSHA256
        self.notValidAfter = notValidAfter
    }
}
