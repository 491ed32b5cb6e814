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
/// A `Mutex`, not an actor: every mTLS request looks its leaf up, a dictionary probe that as an actor cost a hop there
/// and back (two task switches, perf). Nothing is awaited while the lock is held.
final class CertificateVerdictCache: Sendable {
    private struct Entry {
        var validated: ValidatedCertificate
        var until: Date
    }

    private let entries = Mutex<[[UInt8]: Entry]>([:])
    private let capacity: Int
    private let maximumAge: TimeInterval

    init(capacity: Int = 4096, maximumAge: TimeInterval = 300) {
        self.capacity = capacity
        self.maximumAge = maximumAge
    }

    func lookup(_ key: [UInt8], now: Date) -> ValidatedCertificate? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.until > now else {
                entries[key] = nil
                return nil
            }
            return entry.validated
        }
    }

    func store(_ key: [UInt8], _ validated: ValidatedCertificate, now: Date) {
        let entry = Entry(validated: validated, until: min(validated.notValidAfter, now.addingTimeInterval(maximumAge)))
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
    let intermediates: IntermediatePool
    let cache: CertificateVerdictCache
    /// SHA-256 thumbprints (hex) of the proxies allowed to forward `X-SSL-Client-Cert`.
    let trustedProxies: Set<String>

    /// `leafSHA256`: the leaf's thumbprint when the caller has it (the TLS connection's certificate, see
    /// `ServiceRequestContext.verifiedPeer()`); else it is computed, re-serialising the certificate (6-7 % of an mTLS
    /// request, perf).
    func validate(
        leaf: Certificate, presented: [Certificate], leafSHA256: [UInt8]? = nil, now: Date = Date()
    ) async throws(CertificateValidationError) -> ValidatedCertificate {
        let key = leafSHA256 ?? Array(SHA256.hash(data: leaf.derBytes))
        if let hit = cache.lookup(key, now: now) { return hit }
        let pool = await intermediates.all()
        let validated = try await validator.validate(leaf: leaf, intermediates: presented + pool, at: now)
        cache.store(key, validated, now: now)
        return validated
    }

    /// Whether `certificate` is one of the configured trusted proxies (exact certificate, within its dates).
    func isTrustedProxy(_ certificate: Certificate, now: Date = Date()) -> Bool {
        guard !trustedProxies.isEmpty else { return false }
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter else { return false }
        return trustedProxies.contains(Self.thumbprint(certificate))
    }

    static func thumbprint(_ certificate: Certificate) -> String {
        SHA256.hash(data: certificate.derBytes).map { String(format: "%02x", $0) }.joined()
    }
}

extension Certificate {
    /// The DER encoding (re-serialised; swift-certificates keeps the original bytes for parsed certificates).
    var derBytes: [UInt8] {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(self)
        } catch {
            return []
        }
        return serializer.serializedBytes
    }
}
