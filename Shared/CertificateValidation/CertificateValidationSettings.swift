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

/// How client certificates are checked. The names of the settings are the caller's (authn's configuration, the
/// emulator's, the CLI's flags): this library reads no environment.
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

    /// `compatible` (openssl verify's verdict) or `strict` (RFC 5280 and the web PKI profile, ``StrictProfile``).
    public var profile: ValidationProfile = .compatible
    /// When set, the leaf must be issued for this DNS name (RFC 6125/9525 wildcard rules) or IP address, by its
    /// subjectAltName (`certauth verify-chain --host`).
    public var host: String?
    /// Revocation checking of every certificate below the anchor (off by default).
    public var revocation: RevocationSettings = .off
    /// Limits of path building (candidates, depth, name-constraint comparisons).
    public var budget: PathBuildingBudget = .standard
    /// The setting that holds `budget.maximumIntermediates`, named in error messages (the CLI names `--max-depth`).
    public var maximumDepthSetting = "at most \(PathBuildingBudget.standard.maximumIntermediates) are followed"
    /// Whether a leaf with basicConstraints CA:TRUE may authenticate. true (the default) agrees with `openssl verify`,
    /// which accepts it, and the emulator's `tls_client_auth` keeps it (the second seed's Option 1, docs/x509-client-auth.md, uses its
    /// intermediary certificate as a credential at the IdP, and Keycloak accepts that); authn sets false (issue 15): a
    /// CA's key should sign certificates, not authenticate callers.
    public var acceptsCertificateAuthorityLeaf = true

    /// - Parameters:
    ///   - trustedCertificatesSetting: the setting that lists `trustedCertificates`, for messages.
    ///   - requireValidChainSetting: the setting that holds `requireValidChain`, for messages.
    public init(
        trustedCertificates: [Certificate], requireValidChain: Bool = true, purpose: CertificatePurpose = .client,
        trustedCertificatesSetting: String = "trustedCertificates", requireValidChainSetting: String = "requireValidChain"
    ) {
        self.trustedCertificates = trustedCertificates
        self.requireValidChain = requireValidChain
        self.purpose = purpose
        self.trustedCertificatesSetting = trustedCertificatesSetting
        self.requireValidChainSetting = requireValidChainSetting
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
    /// With revocation checking, the earliest nextUpdate of the CRLs consulted: a cached verdict must not outlive it.
    public var revocationCheckedUntil: Date?

    public init(leaf: Certificate, chain: [Certificate], subject: String, thumbprintSHA256: String, notValidAfter: Date) {
        self.leaf = leaf
        self.chain = chain
        self.subject = subject
        self.thumbprintSHA256 = thumbprintSHA256
        self.notValidAfter = notValidAfter
    }
}
