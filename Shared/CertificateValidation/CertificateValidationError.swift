/// Why a client certificate (chain) or its configuration was refused.
///
/// `message` is one or two sentences for the operator: which certificate (by subject), what is wrong, and what to
/// do about it. Match on `code` in code; show `message` to people.
public struct CertificateValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable {
        /// Not a certificate: bad PEM, bad base64, bad DER, unreadable file, invalid pattern.
        case malformed
        /// No certificate was presented.
        case emptyChain
        /// No chain to a trusted certificate could be built (unknown issuer, wrong CA key).
        case untrusted
        /// A certificate of the chain is past its notValidAfter date.
        case expired
        /// A certificate of the chain is before its notValidBefore date.
        case notYetValid
        /// Extended key usage, key usage or Netscape certificate type does not allow the purpose.
        case wrongPurpose
        /// A certificate that issues another one is not a usable CA (basicConstraints, keyUsage, path length).
        case invalidCA
        /// A certificate of the chain is on its issuer's CRL.
        case revoked
        /// Revocation checking is on and the status could not be established (no CRL, a stale CRL), with failure
        /// policy `closed`.
        case revocationUnknown
        /// Anything else (unsupported critical extension, policy failure reported by the verifier).
        case other
    }

    public var code: Code
    /// What is wrong (which certificate, by subject) and how to fix it.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
