import Foundation
@_spi(FixedExpiryValidationTime) import X509

/// Validates client certificate chains (mTLS, or forwarded by a trusted proxy) against the configured trust anchors.
///
/// With `requireValidChain` the chain is built from the leaf through the client's intermediates to a trusted
/// certificate with swift-certificates' `Verifier`, under `RFC5280Policy` (dates on every certificate, basic and
/// name constraints) and ``PurposePolicy`` (OpenSSL's purpose rules). A leaf that is itself one of the trusted
/// certificates (byte-equal) is accepted after its dates and purpose are checked, in both modes.
///
/// When validation fails, the error says which certificate and why, derived from the candidate chains the verifier
/// rejected or, when no chain reached a trusted certificate, from where chain building stopped.
public struct ClientCertificateValidator: Sendable {
    public let settings: CertificateValidationSettings
    private let anchors: CertificateStore

    public init(settings: CertificateValidationSettings) {
        self.settings = settings
        self.anchors = CertificateStore(settings.trustedCertificates)
    }

    /// Builds the chain from `leaf` through `intermediates` (untrusted, as presented by the client) to an anchor.
    public func validate(leaf: Certificate, intermediates: [Certificate], at time: Date = Date()) async throws(CertificateValidationError) -> ValidatedCertificate {
        let trusted = settings.trustedCertificates
        guard !trusted.isEmpty else {
            throw CertificateValidationError(
                code: .untrusted,
                message: "no trusted certificates are configured, so certificate \(ChainRules.name(leaf)) cannot be checked; list the CA certificate file(s) in \(settings.trustedCertificatesSetting)")
        }
        if trusted.contains(leaf) {
            if let problem = ChainRules.firstProblem(
                in: [leaf], at: time, purpose: settings.purpose, trustSetting: settings.trustedCertificatesSetting) {
                throw problem
            }
            return try result(chain: [leaf])
        }
        guard settings.requireValidChain else {
            throw CertificateValidationError(
                code: .untrusted,
                message: "certificate \(ChainRules.name(leaf)) is not one of the \(trusted.count) trusted certificates, and with \(settings.requireValidChainSetting)=false only those exact certificates are accepted; add this client certificate to \(settings.trustedCertificatesSetting), or set \(settings.requireValidChainSetting)=true to accept what the trusted CAs issue")
        }
        var verifier = Verifier(rootCertificates: anchors) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            PurposePolicy(purpose: settings.purpose)
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
        case .validCertificate(let chain):
            return try result(chain: Array(chain))
        case .couldNotValidate(let failures):
            throw ChainDiagnosis(settings: settings, time: time).explain(
                leaf: leaf, intermediates: intermediates, rejectedChains: failures.map { (chain: Array($0.chain), reason: $0.policyFailureReason.description) })
        }
    }

    /// Same, from PEM text: leaf first, then intermediates.
    public func validate(chainPEM: String, at time: Date = Date()) async throws(CertificateValidationError) -> ValidatedCertificate {
        let certificates = try CertificatePEM.parse(chainPEM)
        guard let leaf = certificates.first else {
            throw CertificateValidationError(code: .emptyChain, message: "no certificate was presented; send the client certificate (PEM), followed by its intermediates")
        }
        return try await validate(leaf: leaf, intermediates: Array(certificates.dropFirst()), at: time)
    }

    private func result(chain: [Certificate]) throws(CertificateValidationError) -> ValidatedCertificate {
        let leaf = chain[0]
        return ValidatedCertificate(
            leaf: leaf, chain: chain, subject: DistinguishedNameFormat.string(leaf.subject),
            thumbprintSHA256: try CertificateThumbprint.sha256(leaf),
            notValidAfter: chain.map(\.notValidAfter).min() ?? leaf.notValidAfter)
    }
}
