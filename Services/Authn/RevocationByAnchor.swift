import Foundation
import CertificateValidation
import Settings

/// One group of `CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR`: `<anchor>=<mode>[/<failure>]`, groups
/// separated by `;`, e.g. `/certs/partner-ca.pem=crl+ocsp/closed;/certs/ca.pem=off`. `<anchor>` is one of the
/// `…_MTLS_TRUSTEDCERTIFICATES` files (every certificate in it) or the SHA-256 of a trusted CA's public key (as for
/// `…_MTLS_DEFAULT_ROLES_BY_ANCHOR`); `<mode>` is off, crl, ocsp or crl+ocsp; `<failure>` closed or open (omitted: the
/// global `…_MTLS_REVOCATION_FAILURE`). A chain ending at a listed anchor is checked by its group; other chains by the
/// global `…_MTLS_REVOCATION` and `…_MTLS_REVOCATION_FAILURE`.
public struct AnchorRevocationSetting: Sendable, Equatable {
    public var anchor: String
    public var mode: RevocationMode
    /// nil: the global failure policy.
    public var failure: RevocationFailurePolicy?

    public init(anchor: String, mode: RevocationMode, failure: RevocationFailurePolicy? = nil) {
        self.anchor = anchor
        self.mode = mode
        self.failure = failure
    }

    static let example = "/certs/partner-ca.pem=crl+ocsp/closed;/certs/ca.pem=off"

    static func parse(_ text: String, variable: String) throws(ConfigurationError) -> [AnchorRevocationSetting] {
        var groups: [AnchorRevocationSetting] = []
        // At the last '=': a file name may hold one, a policy never does.
        let split = try TrustAnchorReference.groups(
            text, variable: variable, splitAt: .last,
            expected: "<anchor>=<mode>[/<failure>] groups separated by ';', where <anchor> is one of the files in \(AuthnSetting.mtlsTrusted) or the SHA-256 of a trusted CA's public key, <mode> off, crl, ocsp or crl+ocsp and <failure> closed or open, e.g. \(example)")
        for (anchor, value) in split {
            let policy = value.lowercased()
            let parts = policy.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(parts.count), let mode = RevocationMode(rawValue: parts[0]) else {
                throw ConfigurationError(
                    variable: variable,
                    message: "gives anchor '\(anchor)' the policy '\(policy.prefix(40))'; expected <mode>[/<failure>] with <mode> off, crl, ocsp or crl+ocsp and <failure> closed or open, e.g. crl+ocsp/closed")
            }
            var failure: RevocationFailurePolicy?
            if parts.count == 2 {
                guard let chosen = RevocationFailurePolicy(rawValue: parts[1]) else {
                    throw ConfigurationError(
                        variable: variable,
                        message: "gives anchor '\(anchor)' the failure policy '\(parts[1].prefix(20))'; expected closed (refuse a certificate whose status is unknown) or open (accept it), e.g. \(anchor)=\(mode.rawValue)/closed")
                }
                failure = chosen
            }
            groups.append(AnchorRevocationSetting(anchor: anchor, mode: mode, failure: failure))
        }
        return groups
    }

    /// The groups keyed by the anchors' SPKI SHA-256 (hex), the failure policy filled in from `globalFailure`; an
    /// anchor that is none of the trusted certificates is a configuration error.
    public static func resolve(
        _ groups: [AnchorRevocationSetting], globalFailure: RevocationFailurePolicy, trustedFiles: [String], variable: String
    ) throws -> [String: AnchorRevocationPolicy] {
        try TrustAnchorReference.resolve(
            groups.map { ($0.anchor, AnchorRevocationPolicy(mode: $0.mode, failure: $0.failure ?? globalFailure, anchor: $0.anchor)) },
            trustedFiles: trustedFiles, variable: variable)
    }
}
