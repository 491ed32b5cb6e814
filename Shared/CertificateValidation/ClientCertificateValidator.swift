import Foundation
import X509

/// Validates client certificate chains (mTLS, or forwarded by a trusted proxy) against the configured trust anchors.
///
/// With `requireValidChain` the chain is built from the leaf through the client's intermediates to a trusted
/// certificate by ``PathBuilder`` within the settings' ``PathBuildingBudget`` (off the event loops), each candidate
/// chain judged by swift-certificates' `Verifier` under ``ChainPolicy`` (RFC 5280: dates on every certificate, basic
/// and complete name constraints) and ``PurposePolicy`` (OpenSSL's purpose rules). A leaf that is itself one of the trusted
/// certificates (byte-equal) is accepted after its dates and purpose are checked, in both modes.
///
/// When validation fails, the error says which certificate and why, derived from the candidate chains the verifier
/// rejected or, when no chain reached a trusted certificate, from where chain building stopped.
public struct ClientCertificateValidator: Sendable {
    public let settings: CertificateValidationSettings

    public init(settings: CertificateValidationSettings) {
        self.settings = settings
    }

    /// Builds the chain from `leaf` through `intermediates` (untrusted, as presented by the client) to an anchor.
    public func validate(leaf: Certificate, intermediates: [Certificate], at time: Date = Date()) async throws(CertificateValidationError) -> ValidatedCertificate {
        let trusted = settings.trustedCertificates
        guard !trusted.isEmpty else {
            throw CertificateValidationError(
                code: .untrusted,
                message: "no trusted certificates are configured, so certificate \(ChainRules.name(leaf)) cannot be checked; list the CA certificate file(s) in \(settings.trustedCertificatesSetting)")
        }
        if !settings.acceptsCertificateAuthorityLeaf, let problem = ChainRules.certificateAuthorityLeafProblem(leaf) {
            throw problem
        }
        if trusted.contains(leaf) {
            if let problem = ChainRules.firstProblem(
                in: [leaf], at: time, purpose: settings.purpose, trustSetting: settings.trustedCertificatesSetting) {
                throw problem
            }
            // The profile's and the host's checks on the one-certificate chain.
            var verifier = Verifier(rootCertificates: CertificateStore([leaf])) { Self.policy(at: time, settings: self.settings) }
            if case .couldNotValidate(let failures) = await verifier.validate(leaf: leaf, intermediates: CertificateStore()) {
                throw CertificateValidationError(
                    code: .other,
                    message: failures.first.map { "\($0.policyFailureReason)" } ?? "certificate \(ChainRules.name(leaf)) was refused by the certificate verifier")
            }
            return try result(chain: [leaf])
        }
        guard settings.requireValidChain else {
            throw CertificateValidationError(
                code: .untrusted,
                message: "certificate \(ChainRules.name(leaf)) is not one of the \(trusted.count) trusted certificates, and with \(settings.requireValidChainSetting)=false only those exact certificates are accepted; add this client certificate to \(settings.trustedCertificatesSetting), or set \(settings.requireValidChainSetting)=true to accept what the trusted CAs issue")
        }
        let builder = PathBuilder(anchors: trusted, budget: settings.budget) {
            Self.policy(at: time, settings: self.settings)
        }
        // Path building is CPU work on untrusted input: never on an event loop, even when the request handler runs on
        // one (ServiceSupport binds handlers to their connection's loop).
        let outcome = await withTaskExecutorPreference(globalConcurrentExecutor) {
            await builder.build(leaf: leaf, intermediates: intermediates)
        }
        switch outcome {
        case .valid(let chain):
            // CRL downloads and parses, OCSP exchanges: never on an event loop either.
            let revocation = await withTaskExecutorPreference(globalConcurrentExecutor) {
                await RevocationCheck.evaluate(chain: chain, at: time, settings: self.settings.revocation)
            }
            if let problem = revocation.problem {
                throw problem
            }
            var validated = try result(chain: chain)
            validated.revocationCheckedUntil = revocation.freshUntil
            return validated
        case .gaveUp(let error):
            throw error
        case .refused(let failures):
            throw ChainDiagnosis(settings: settings, time: time).explain(
                leaf: leaf, intermediates: intermediates, rejectedChains: failures)
        }
    }

    /// The policy every candidate chain must meet: RFC 5280 (version, dates, basic constraints, complete name
    /// constraints: ``ChainPolicy``) and OpenSSL's purpose and CA rules (``PurposePolicy``); in the `strict` profile
    /// also ``StrictProfile``'s checks; with a host, ``HostPolicy``.
    @PolicyBuilder
    static func policy(at time: Date, settings: CertificateValidationSettings) -> some VerifierPolicy {
        ChainPolicy(time: time)
        PurposePolicy(purpose: settings.purpose)
        if settings.profile == .strict {
            StrictProfile.policies
        }
        if let host = settings.host {
            HostPolicy(host: host)
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
