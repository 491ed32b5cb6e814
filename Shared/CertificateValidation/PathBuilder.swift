import Foundation
import SwiftASN1
import X509

/// How much work one validation may do: untrusted input (a client's handshake, a forwarded header, a file) must not
/// be able to make path building take seconds (issue 17).
///
/// Path building is a search: each certificate whose subject matches the issuer of the chain's current tip is a
/// candidate, and each candidate costs a signature check. A client that sends many certificates with the same subject
/// (or CAs that cross-sign each other) can make the number of paths grow exponentially, and swift-certificates'
/// `Verifier` has no limit of its own. Name constraints cost a comparison per subtree and name, so a CA with
/// thousands of subtrees over a leaf with thousands of names costs millions.
public struct PathBuildingBudget: Sendable, Equatable {
    /// Candidate issuers examined (one signature check each) per validation. Go's `crypto/x509` stops at 100
    /// signature checks; real chains need well under 10.
    public var maximumCandidates: Int
    /// Intermediate CA certificates allowed between the leaf and the trust anchor (like `openssl verify
    /// -verify_depth`).
    public var maximumIntermediates: Int
    /// Name-constraint comparisons (subtrees × names below them) per validation, summed over every candidate chain.
    /// Go's `crypto/x509` allows 250 000 per chain.
    public var maximumNameConstraintComparisons: Int

    public init(maximumCandidates: Int = 100, maximumIntermediates: Int = 32, maximumNameConstraintComparisons: Int = 250_000) {
        self.maximumCandidates = maximumCandidates
        self.maximumIntermediates = maximumIntermediates
        self.maximumNameConstraintComparisons = maximumNameConstraintComparisons
    }

    public static let standard = PathBuildingBudget()
}

/// Builds candidate chains from a leaf through untrusted intermediates to a trust anchor, within a
/// ``PathBuildingBudget``, and has each complete candidate checked by swift-certificates' `Verifier` under the given
/// policy.
///
/// The search is the `Verifier`'s (depth first, anchors before intermediates, no certificate twice by subject and key),
/// with counters; the `Verifier` then sees only the certificates of one candidate chain, so its own search is linear.
/// That keeps swift-certificates as the judge of every chain (dates, basic and name constraints, our policies)
/// without a fork.
struct PathBuilder<Policy: VerifierPolicy> {
    enum Outcome {
        /// The verifier accepted this chain (leaf first, anchor last).
        case valid([Certificate])
        /// Complete chains the verifier refused, with its reasons; empty when no chain reached an anchor.
        case refused([(chain: [Certificate], reason: String)])
        /// The budget ran out; the message says which part and how far the search got.
        case gaveUp(CertificateValidationError)
    }

    let anchors: [DistinguishedName: [Certificate]]
    let budget: PathBuildingBudget
    let makePolicy: () -> Policy

    init(anchors: [Certificate], budget: PathBuildingBudget, policy: @escaping () -> Policy) {
        self.anchors = Dictionary(grouping: anchors, by: \.subject)
        self.budget = budget
        self.makePolicy = policy
    }

    func build(leaf: Certificate, intermediates presented: [Certificate]) async -> Outcome {
        let handled = makePolicy().verifyingCriticalExtensions
        if Self.hasUnhandledCriticalExtension(leaf, handled: handled) {
            return .refused([])
        }
        var seen = Set<Certificate>()
        let intermediates = Dictionary(grouping: presented.filter { seen.insert($0).inserted }, by: \.subject)
        var candidates = 0
        var comparisons = 0
        var refused: [(chain: [Certificate], reason: String)] = []
        // Partial chains, leaf first; the last element is the tip whose issuer is searched next.
        var stack: [[Certificate]] = [[leaf]]
        while let partial = stack.popLast() {
            let tip = partial[partial.count - 1]
            for anchor in anchors[tip.issuer] ?? [] {
                if Self.contains(partial, anchor) || Self.hasUnhandledCriticalExtension(anchor, handled: handled) { continue }
                candidates += 1
                if candidates > budget.maximumCandidates { return .gaveUp(gaveUp(after: budget.maximumCandidates)) }
                guard anchor.publicKey.isValidSignature(tip.signature, for: tip) else { continue }
                let chain = partial + [anchor]
                comparisons += Self.nameConstraintComparisons(chain)
                if comparisons > budget.maximumNameConstraintComparisons {
                    return .gaveUp(tooManyComparisons(comparisons, chain: chain))
                }
                switch await verify(chain) {
                case .validCertificate(let validated):
                    return .valid(Array(validated))
                case .couldNotValidate(let failures):
                    let reason = failures.first?.policyFailureReason.description ?? "refused by the certificate verifier"
                    refused.append((chain: chain, reason: reason))
                }
            }
            // Intermediates, pushed in reverse so that the first presented is tried first.
            guard partial.count - 1 < budget.maximumIntermediates else { continue }
            for parent in (intermediates[tip.issuer] ?? []).reversed() {
                if Self.contains(partial, parent) || Self.hasUnhandledCriticalExtension(parent, handled: handled) { continue }
                candidates += 1
                if candidates > budget.maximumCandidates { return .gaveUp(gaveUp(after: budget.maximumCandidates)) }
                guard parent.publicKey.isValidSignature(tip.signature, for: tip) else { continue }
                stack.append(partial + [parent])
            }
        }
        return .refused(refused)
    }

    /// Has swift-certificates' `Verifier` check one complete candidate chain: it sees only this chain's certificates.
    private func verify(_ chain: [Certificate]) async -> CertificateValidationResult {
        var verifier = Verifier(rootCertificates: CertificateStore([chain[chain.count - 1]]), policy: makePolicy)
        return await verifier.validate(leaf: chain[0], intermediates: CertificateStore(Array(chain.dropFirst().dropLast())))
    }

    private func gaveUp(after count: Int) -> CertificateValidationError {
        CertificateValidationError(
            code: .untrusted,
            message: "path building gave up after \(count) candidates: the presented certificates offer too many possible issuers (many certificates with the same subject, or CAs that cross-sign each other); send only the chain from the client certificate to its CA")
    }

    private func tooManyComparisons(_ comparisons: Int, chain: [Certificate]) -> CertificateValidationError {
        let path = chain.map(ChainRules.name).joined(separator: " -> ")
        return CertificateValidationError(
            code: .other,
            message: "path building gave up: checking the name constraints of \(path) needs \(comparisons) comparisons, over the budget of \(budget.maximumNameConstraintComparisons); reissue the CA with fewer name constraints or the certificate with fewer names")
    }

    /// The `Verifier`'s loop check (RFC 4158 § 5.2): the same subject, key and subjectAltName count as the same CA.
    static func contains(_ chain: [Certificate], _ certificate: Certificate) -> Bool {
        chain.contains {
            $0.subject == certificate.subject && $0.publicKey == certificate.publicKey
                && $0.extensions[oid: .X509ExtensionID.subjectAlternativeName]?.value
                    == certificate.extensions[oid: .X509ExtensionID.subjectAlternativeName]?.value
        }
    }

    static func hasUnhandledCriticalExtension(_ certificate: Certificate, handled: [ASN1ObjectIdentifier]) -> Bool {
        certificate.extensions.contains { $0.critical && !handled.contains($0.oid) }
    }

    /// Subtrees of each CA's name constraints times the names of the certificates below it (its subject and each
    /// subjectAltName), summed: what checking the constraints costs, at most.
    static func nameConstraintComparisons(_ chain: [Certificate]) -> Int {
        var total = 0
        for index in chain.indices.dropFirst() {
            let subtrees = nameConstraintSubtrees(chain[index])
            guard subtrees > 0 else { continue }
            let names = chain[..<index].reduce(0) { $0 + 1 + subjectAlternativeNameCount($1) }
            total += subtrees * names
        }
        return total
    }

    /// The number of subtrees (permitted plus excluded) in the certificate's nameConstraints; 0 when absent or
    /// malformed (the verifier refuses a malformed extension itself).
    static func nameConstraintSubtrees(_ certificate: Certificate) -> Int {
        guard let ext = certificate.extensions[oid: .X509ExtensionID.nameConstraints],
            let root = try? DER.parse(ext.value), case .constructed(let parts) = root.content
        else { return 0 }
        var count = 0
        for part in parts {
            if case .constructed(let subtrees) = part.content {
                count += subtrees.reduce(0) { count, _ in count + 1 }
            }
        }
        return count
    }

    static func subjectAlternativeNameCount(_ certificate: Certificate) -> Int {
        guard let ext = certificate.extensions[oid: .X509ExtensionID.subjectAlternativeName],
            let root = try? DER.parse(ext.value), case .constructed(let names) = root.content
        else { return 0 }
        return names.reduce(0) { count, _ in count + 1 }
    }
}
