import CertificateValidation
import Crypto
import Foundation
import Keystore
import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// Successful chain validations by leaf (SHA-256 of the DER), reused until the chain's earliest expiry or for at most
/// five minutes, so a kept-alive client costs one validation. Failures are not kept.
///
/// A verdict that needed intermediates the client presented holds only for a client that presents them too: each
/// entry keeps those intermediates, and a hit is used only when the caller's own chain includes them (the chain
/// belongs to the connection, issue 16 item 4). A verdict from the anchors and the operator's intermediates alone holds
/// for every holder of the leaf's key.
///
/// A `Mutex`, not an actor: every mTLS request looks its leaf up, a dictionary probe that as an actor cost a hop there
/// and back (two task switches, perf). Nothing is awaited while the lock is held.
final class CertificateVerdictCache: Sendable {
    struct Entry: Sendable {
        var validated: ValidatedCertificate
        /// The intermediates of the validated chain that the client presented (not configured by the operator).
        var presentedIntermediates: [Certificate]
        var until: Date
    }

    private let entries = Mutex<[[UInt8]: Entry]>([:])
    private let capacity: Int
    private let maximumAge: TimeInterval
    /// Counts ``removeAll()`` calls: an answer made from a verdict of an older generation is not repeated (the lean
    /// path of authn checks it with one atomic load per request).
    private let generationCounter = Atomic<UInt64>(0)

    var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    init(capacity: Int = 4096, maximumAge: TimeInterval = 300) {
        self.capacity = capacity
        self.maximumAge = maximumAge
    }

    /// Forgets every verdict (the CRLs changed).
    func removeAll() {
        entries.withLock { $0.removeAll() }
        generationCounter.add(1, ordering: .releasing)
    }

    func lookup(_ key: [UInt8], now: Date) -> Entry? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.until > now else {
                entries[key] = nil
                return nil
            }
            return entry
        }
    }

    func store(_ key: [UInt8], _ validated: ValidatedCertificate, presentedIntermediates: [Certificate], now: Date) {
        let entry = Entry(
            validated: validated, presentedIntermediates: presentedIntermediates,
            until: min(validated.notValidAfter, validated.revocationCheckedUntil ?? .distantFuture, now.addingTimeInterval(maximumAge)))
        let capacity = self.capacity
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.until > now }
                if entries.count >= capacity, let victim = entries.keys.first { entries[victim] = nil }
            }
            entries[key] = entry
        }
    }
}

/// Validates client certificates (presented on the connection or forwarded by a trusted proxy) with the shared
/// `ClientCertificateValidator`, and maps them to principals.
struct ClientCertificateAuthenticator: Sendable {
    let validator: ClientCertificateValidator
    let mapper: SubjectPrincipalMapper
    /// The operator's intermediates (`…_MTLS_INTERMEDIATECERTIFICATES`), offered to every chain.
    let configuredIntermediates: [Certificate]
    let cache: CertificateVerdictCache
    /// SHA-256 thumbprints (hex) of the proxies allowed to forward `X-SSL-Client-Cert`.
    let trustedProxies: Set<String>
    /// Where the principal comes from (`…_MTLS_PRINCIPAL_SOURCE`).
    var principalSource: MTLSPrincipalSource = .subjectDN
    /// Default roles by the SPKI SHA-256 (hex) of the anchor a chain ends at (`…_MTLS_DEFAULT_ROLES_BY_ANCHOR`); an
    /// anchor not listed gets the global `…_MTLS_DEFAULT_ROLES`.
    var defaultRolesByAnchor: [String: [String]] = [:]

    /// `presented`: the intermediates that came with this leaf (its connection's, or forwarded with it), read only on a
    /// cache miss or when the cached verdict needed presented intermediates.
    /// `leafSHA256`: the leaf's thumbprint when the caller has it (the TLS connection's certificate, see
    /// `ServiceRequestContext.verifiedPeer()`); else it is computed, re-serialising the certificate (6-7 % of an mTLS
    /// request, perf).
    func validate(
        leaf: Certificate, presented: PresentedIntermediates, leafSHA256: [UInt8]? = nil, now: Date = Date()
    ) async throws(CertificateValidationError) -> ValidatedCertificate {
        let key = leafSHA256 ?? leaf.sha256Thumbprint ?? Thumbprint.sha256(der: [])
        let hit = cache.lookup(key, now: now)
        if let hit, hit.presentedIntermediates.isEmpty { return hit.validated }
        let mine = await presented.certificates()
        if let hit, hit.presentedIntermediates.allSatisfy(mine.contains) { return hit.validated }
        let validated = try await validator.validate(leaf: leaf, intermediates: mine + configuredIntermediates, at: now)
        let used = validated.chain.dropFirst().dropLast().filter { !configuredIntermediates.contains($0) }
        cache.store(key, validated, presentedIntermediates: Array(used), now: now)
        return validated
    }

    /// Whether `certificate` is one of the configured trusted proxies (exact certificate, within its dates).
    func isTrustedProxy(_ certificate: Certificate, now: Date = Date()) -> Bool {
        guard !trustedProxies.isEmpty else { return false }
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else { return false }
        return trustedProxies.contains(Self.thumbprint(certificate))
    }

    static func thumbprint(_ certificate: Certificate) -> String {
        certificate.sha256Hex ?? ""
    }
}
