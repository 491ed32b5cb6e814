import SwiftASN1
import X509

/// A `VerifierPolicy` with OpenSSL's purpose and CA rules, used next to ``ChainPolicy`` (which checks dates, basic
/// and name constraints but neither key usage nor extended key usage). See ``ChainRules`` for the rules.
public struct PurposePolicy: VerifierPolicy, Sendable {
    /// The purpose the leaf must be good for.
    public let purpose: CertificatePurpose

    /// Extended key usage, Netscape certificate type, subjectAltName, certificatePolicies and keyUsage.
    public var verifyingCriticalExtensions: [ASN1ObjectIdentifier] { ChainRules.purposePolicyCriticalExtensions }

    public init(purpose: CertificatePurpose) {
        self.purpose = purpose
    }

    public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let certificates = Array(chain)
        if let problem = ChainRules.caProblem(in: certificates) ?? ChainRules.purposeProblem(in: certificates, purpose: purpose) {
            return .failsToMeetPolicy(reason: problem.message)
        }
        return .meetsPolicy
    }
}
