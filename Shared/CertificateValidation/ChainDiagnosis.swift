import Foundation
import X509

/// Explains why the verifier refused a chain, in terms an operator can act on (swift-certificates' own failure
/// text prints whole certificates and names no fix).
struct ChainDiagnosis {
    let settings: CertificateValidationSettings
    let time: Date

    /// - Parameter rejectedChains: the complete candidate chains (leaf to anchor) the verifier's policies refused,
    ///   with the verifier's reason; empty when no chain reached a trusted certificate.
    func explain(
        leaf: Certificate, intermediates: [Certificate], rejectedChains: [(chain: [Certificate], reason: String)]
    ) -> CertificateValidationError {
        for candidate in rejectedChains {
            if let problem = ChainRules.firstProblem(
                in: candidate.chain, at: time, purpose: settings.purpose, trustSetting: settings.trustedCertificatesSetting)
            {
                return problem
            }
        }
        if let candidate = rejectedChains.first {
            let path = candidate.chain.map(ChainRules.name).joined(separator: " -> ")
            return CertificateValidationError(
                code: .other,
                message: "the chain \(path) was refused: \(candidate.reason)")
        }
        return whyNoChain(leaf: leaf, intermediates: intermediates)
    }

    /// Follows issuers from the leaf through the presented intermediates and says where and why it stops.
    func whyNoChain(leaf: Certificate, intermediates: [Certificate]) -> CertificateValidationError {
        let trusted = settings.trustedCertificates
        var current = leaf
        var path = [leaf]
        var signatureChecks = 0
        while true {
            if path.count - 1 > settings.budget.maximumIntermediates {
                return CertificateValidationError(
                    code: .untrusted,
                    message: "the chain from \(ChainRules.name(leaf)) has more than \(settings.budget.maximumIntermediates) intermediate CA certificates before a trusted one (\(settings.maximumDepthSetting)); trust a CA closer to the client certificate, or raise the limit")
            }
            let role: ChainRules.Role = path.count == 1 ? .leaf : .intermediate
            if let problem = ChainRules.criticalExtensionProblem(current, role: role) {
                return problem
            }
            let trustedByName = trusted.filter { $0.subject == current.issuer }
            if let anchor = trustedByName.first(where: { $0.publicKey.isValidSignature(current.signature, for: current) }) {
                // A chain reached an anchor but the verifier did not consider it: the anchor has an unsupported
                // critical extension, or something we do not model.
                if let problem = ChainRules.criticalExtensionProblem(anchor, role: .anchor) {
                    return problem
                }
                let chain = (path + [anchor]).map(ChainRules.name).joined(separator: " -> ")
                return CertificateValidationError(
                    code: .other,
                    message: "the chain \(chain) was refused by the certificate verifier; check it with certauth verify-chain and openssl verify")
            }
            let presented = intermediates.filter { $0.subject == current.issuer && !path.contains($0) }
            // Bounded like path building: the search already stayed within the budget, so this walk along one of its
            // paths does too; the counter keeps it so if the two ever differ.
            signatureChecks += presented.count
            guard signatureChecks <= settings.budget.maximumCandidates else {
                return CertificateValidationError(
                    code: .untrusted,
                    message: "path building gave up after \(settings.budget.maximumCandidates) candidates: no chain from \(ChainRules.name(leaf)) to a trusted certificate was found within the budget; send only the chain from the client certificate to its CA")
            }
            if let next = presented.first(where: { $0.publicKey.isValidSignature(current.signature, for: current) }) {
                path.append(next)
                current = next
                continue
            }
            return untrusted(current, role: role, trustedByName: trustedByName, presentedByName: presented)
        }
    }

    private func untrusted(
        _ certificate: Certificate, role: ChainRules.Role, trustedByName: [Certificate], presentedByName: [Certificate]
    ) -> CertificateValidationError {
        let trusted = settings.trustedCertificates
        let setting = settings.trustedCertificatesSetting
        let subject = ChainRules.name(certificate)
        let issuer = "'\(DistinguishedNameFormat.string(certificate.issuer))'"
        if !trustedByName.isEmpty {
            return CertificateValidationError(
                code: .untrusted,
                message: "\(role.noun) \(subject) names \(issuer) as its issuer, and a trusted certificate has that name, but its key did not sign \(subject) (a different CA with the same name, or a re-keyed CA); add the CA certificate that really issued it to \(setting)")
        }
        if !presentedByName.isEmpty {
            return CertificateValidationError(
                code: .untrusted,
                message: "\(role.noun) \(subject) names \(issuer) as its issuer, but the presented certificate with that name did not sign it (signature does not verify); send the intermediate that issued it, and check that \(issuer) is among the \(trusted.count) trusted certificates in \(setting)")
        }
        if certificate.issuer == certificate.subject {
            let start = role == .leaf
                ? "certificate \(subject) is self-signed and"
                : "the chain ends at \(subject), which is self-signed and"
            return CertificateValidationError(
                code: .untrusted,
                message: "\(start) not among the \(trusted.count) trusted certificates (subjects: \(subjects(trusted))); add it to \(setting) if you trust it")
        }
        return CertificateValidationError(
            code: .untrusted,
            message: "\(role.noun) \(subject) was issued by \(issuer), which is not among the \(trusted.count) trusted certificates (subjects: \(subjects(trusted))); add the CA to \(setting) or send the intermediate")
    }

    private func subjects(_ certificates: [Certificate]) -> String {
        let limit = 10
        var names = certificates.prefix(limit).map(ChainRules.name)
        if certificates.count > limit {
            names.append("and \(certificates.count - limit) more")
        }
        return names.joined(separator: "; ")
    }
}
