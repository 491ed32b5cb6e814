import AuthProtocol
import Crypto
import Foundation
import Keystore
import Logging
import ServiceLifecycle
import ServiceSupport
import WireFormat
import X509

/// Owns the client credentials: the current one (the keystore settings) and, during a rollover, the next one
/// (`…_CLIENT_ASSERTION_NEXT_…`), each reloaded when its files change, so a rotated certificate is used without a
/// restart. A reload that fails keeps the credentials in use and says why.
///
/// Which certificate signs: the newest one (by `notBefore`, then by load order) the IdP has accepted; a newer one not
/// yet tried is tried first (unless zero-touch rotation introduces new certificates itself), and a certificate-class
/// refusal (``IdPErrorClassifier/certificateCodes``) falls back to the other. A certificate replaced on disk stays in
/// memory (`retained`) until a newer one has been accepted, so a replacement that Entra does not know yet never stops
/// token exchanges.
public actor CredentialStore {
    /// Where a credential comes from.
    public enum Slot: String, Sendable {
        case current, next
    }

    /// What the IdP said about a credential.
    public enum IdPStatus: String, Sendable {
        case untried, accepted, refused, registered, removed
    }

    struct Held {
        var credential: Credential
        /// nil: no longer on disk (kept in memory).
        var slot: Slot?
        var sequence: Int
        var status: IdPStatus = .untried
        var statusAt: Date = .distantPast
        /// Normal exchanges may try it before it was accepted (false for certificates zero-touch rotation introduces).
        var probe: Bool
        /// Zero-touch rotation still has to remove its key at the IdP: listed until then.
        var keptForRemoval = false

        var thumbprint: [UInt8] { credential.sha256Thumbprint }
        /// Newer: later `notBefore`, then loaded later.
        func isNewer(than other: Held) -> Bool {
            credential.notValidBefore != other.credential.notValidBefore
                ? credential.notValidBefore > other.credential.notValidBefore : sequence > other.sequence
        }
    }

    private var sources: [Slot: KeystoreSource]
    private var digests: [Slot: [UInt8]] = [:]
    private var held: [Held] = []
    private var sequence = 0
    /// What signs when every certificate's key was removed at the IdP (then the refusal says so): the first loaded.
    private let lastResort: Credential
    private let logger: Logger
    private let health: HealthRegistry?
    private let algorithm: String
    /// With zero-touch rotation the rotation manager registers a new certificate at Entra before exchanges use it.
    private let probeNewCertificates: Bool
    /// A refused certificate is tried again by normal exchanges after this long (it may have been registered since).
    private let retryRefusedAfter: TimeInterval

    /// Loads the keystores once; throws the keystore's one-line error when one can't be loaded.
    public init(source: KeystoreSource, next: KeystoreSource? = nil, algorithm: String, logger: Logger, health: HealthRegistry? = nil,
                probeNewCertificates: Bool = true, retryRefusedAfter: TimeInterval = 300) throws(KeystoreError) {
        self.sources = [.current: source]
        if let next { sources[.next] = next }
        self.logger = logger
        self.health = health
        self.algorithm = algorithm
        self.probeNewCertificates = probeNewCertificates
        self.retryRefusedAfter = retryRefusedAfter
        let (first, firstDigest) = try Self.load(source: source, slot: .current, logger: logger)
        lastResort = first.credential
        for slot in [Slot.current, .next] {
            guard let source = sources[slot] else { continue }
            let (loaded, digest) = slot == .current ? (first, firstDigest) : try Self.load(source: source, slot: slot, logger: logger)
            digests[slot] = digest
            // Certificates present at start may be tried by exchanges: they were configured by the operator.
            if let index = held.firstIndex(where: { $0.thumbprint == loaded.credential.sha256Thumbprint }) {
                held[index].slot = held[index].slot ?? slot
            } else {
                sequence += 1
                held.append(Held(credential: loaded.credential, slot: slot, sequence: sequence, probe: true))
            }
        }
        health?.up("keystore", details: Self.healthDetails(held, retryRefusedAfter: retryRefusedAfter))
    }

    // MARK: Choosing the signing certificate

    /// The credential that signs new assertions (the first of ``signingOrder(now:)``).
    public func current() -> Credential { signingOrder().first ?? lastResort }

    /// The credentials to try for one exchange, in order: newer certificates not yet tried (or refused long enough
    /// ago), then the newest accepted one, then the others; never one whose key was removed at the IdP.
    public func signingOrder(now: Date = Date()) -> [Credential] {
        Self.order(held, now: now, retryRefusedAfter: retryRefusedAfter).map(\.credential)
    }

    static func order(_ held: [Held], now: Date, retryRefusedAfter: TimeInterval) -> [Held] {
        let live = held.filter { $0.status != .removed }
        let accepted = live.filter { $0.status == .accepted }
        let newestAccepted = accepted.max { !$0.isNewer(than: $1) }
        let probes = live.filter { candidate in
            guard candidate.status != .accepted else { return false }
            if let newestAccepted, !candidate.isNewer(than: newestAccepted) { return false }
            switch candidate.status {
            case .untried: return candidate.probe
            case .registered: return true
            case .refused: return candidate.probe && now.timeIntervalSince(candidate.statusAt) >= retryRefusedAfter
            case .accepted, .removed: return false
            }
        }.sorted { $0.isNewer(than: $1) }
        var order = probes + (newestAccepted.map { [$0] } ?? [])
        let rest = live.filter { candidate in !order.contains { $0.thumbprint == candidate.thumbprint } }
            .sorted { lhs, rhs in
                // Accepted before untried before refused, newest first within each.
                let rank: (Held) -> Int = { $0.status == .accepted ? 0 : $0.status == .refused ? 2 : 1 }
                return rank(lhs) != rank(rhs) ? rank(lhs) < rank(rhs) : lhs.isNewer(than: rhs)
            }
        order += rest
        return order
    }

    /// Every credential held, newest first (for the rotation manager).
    public func all() -> [(credential: Credential, slot: Slot?, status: IdPStatus)] {
        held.sorted { $0.isNewer(than: $1) }.map { ($0.credential, $0.slot, $0.status) }
    }

    /// The newest credential the IdP accepted, if any.
    public func newestAccepted() -> Credential? {
        held.filter { $0.status == .accepted }.max { !$0.isNewer(than: $1) }?.credential
    }

    // MARK: What the IdP said

    /// A token exchange signed with `credential` succeeded.
    public func accepted(_ credential: Credential) {
        guard let index = index(of: credential) else { return }
        let wasAccepted = held[index].status == .accepted
        held[index].status = .accepted
        held[index].statusAt = Date()
        if !wasAccepted {
            logger.notice("IdP accepted the certificate", metadata: [
                LogKey.certificateX5tS256: .string(credential.x5tS256), LogKey.keystoreSlot: .string(held[index].slot?.rawValue ?? "retained"),
            ])
        }
        // Certificates no longer on disk and older than an accepted one have served their purpose (unless zero-touch
        // rotation still has to remove their key at the IdP, which holds them through ``retain(_:)``).
        let newest = held[index]
        held.removeAll { $0.slot == nil && !$0.keptForRemoval && newest.isNewer(than: $0) && $0.thumbprint != newest.thumbprint }
        reportHealth()
    }

    /// The IdP refused `credential` with a certificate-class error.
    public func refused(_ credential: Credential, codes: [Int]) {
        guard let index = index(of: credential) else { return }
        held[index].status = .refused
        held[index].statusAt = Date()
        logger.warning("IdP refused the certificate", metadata: [
            LogKey.certificateX5tS256: .string(credential.x5tS256), LogKey.keystoreSlot: .string(held[index].slot?.rawValue ?? "retained"),
            LogKey.oauthErrorCodes: .string(codes.map(String.init).joined(separator: ",")),
        ])
        reportHealth()
    }

    /// Zero-touch rotation registered `credential` at the IdP (Graph addKey): exchanges may try it.
    public func registered(_ credential: Credential) {
        guard let index = index(of: credential), held[index].status != .accepted else { return }
        held[index].status = .registered
        held[index].statusAt = Date()
        reportHealth()
    }

    /// Zero-touch rotation removed the key of `credential` at the IdP (Graph removeKey): never used again.
    public func removed(_ credential: Credential) {
        guard let index = index(of: credential) else { return }
        held[index].status = .removed
        held[index].statusAt = Date()
        held[index].keptForRemoval = false
        if held[index].slot == nil { held.remove(at: index) }
        reportHealth()
    }

    /// Keeps `credential` in memory after it left the disk, until ``removed(_:)`` (zero-touch rotation needs its key
    /// for nothing, but lists it until the IdP no longer knows it).
    public func retain(_ credential: Credential) {
        guard let index = index(of: credential) else { return }
        held[index].keptForRemoval = true
    }

    private func index(of credential: Credential) -> Int? {
        held.firstIndex { $0.thumbprint == credential.sha256Thumbprint }
    }

    // MARK: Reloading

    /// Re-reads each keystore whose content changed; returns true when a new certificate was loaded.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        var changed = false
        for (slot, source) in sources.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let digest = source.contentDigest() else {
                logger.error("Keystore file unreadable; keeping the certificate in use", metadata: [
                    LogKey.keystorePath: .string(source.files.joined(separator: ", ")), LogKey.keystoreSlot: .string(slot.rawValue),
                ])
                health?.degraded("keystore", details: healthDetails().merging(
                    ["reason": "Certificate keystore not found or unreadable: \(source.files.joined(separator: ", "))"]) { $1 })
                continue
            }
            guard digest != digests[slot] else { continue }
            if reload(slot: slot, reason: "keystore file changed") { changed = true }
        }
        return changed
    }

    /// Re-reads every keystore now (after the IdP refused a certificate, or when a file changed).
    @discardableResult
    public func reload(reason: String) -> Bool {
        var changed = false
        for slot in sources.keys.sorted(by: { $0.rawValue < $1.rawValue }) where reload(slot: slot, reason: reason) {
            changed = true
        }
        return changed
    }

    private func reload(slot: Slot, reason: String) -> Bool {
        guard let source = sources[slot] else { return false }
        do {
            // A failure leaves the digest as it was, so the next poll tries again (a certificate and key replaced one
            // after the other, rather than through Kubernetes' atomic link swap, can mismatch for a moment).
            let (loaded, digest) = try Self.load(source: source, slot: slot, logger: logger)
            digests[slot] = digest
            let old = held.first { $0.slot == slot }
            guard loaded.credential.sha256Thumbprint != old?.thumbprint else {
                reportHealth()
                return false
            }
            logger.notice("Certificate rotated", metadata: [
                LogKey.keystoreReason: .string(reason), LogKey.keystoreSlot: .string(slot.rawValue),
                LogKey.previousX5tS256: .string(old?.credential.x5tS256 ?? "-"), LogKey.nextX5tS256: .string(loaded.credential.x5tS256),
            ])
            if let oldIndex = held.firstIndex(where: { $0.slot == slot }) {
                held[oldIndex].slot = nil
            }
            if let existing = index(of: loaded.credential) {
                // The certificate moved between slots (the next one became the current one).
                held[existing].slot = slot
            } else {
                sequence += 1
                held.append(Held(credential: loaded.credential, slot: slot, sequence: sequence, probe: probeNewCertificates))
            }
            // A certificate off disk that the IdP never accepted, and that nothing holds, is dropped; one the IdP
            // accepted stays until a newer one is accepted (it is the fallback meanwhile).
            held.removeAll { $0.slot == nil && $0.status != .accepted && !$0.keptForRemoval }
            // At most a handful: the accepted retained one, the current and the next.
            while held.count > 4, let oldest = held.filter({ $0.slot == nil }).min(by: { !$0.isNewer(than: $1) }) {
                held.removeAll { $0.thumbprint == oldest.thumbprint }
            }
            reportHealth()
            return true
        } catch {
            logger.error("Keystore reload failed; keeping the certificate in use", error: error, metadata: [
                LogKey.keystoreReason: .string(reason), LogKey.keystoreSlot: .string(slot.rawValue),
            ])
            health?.degraded("keystore", details: healthDetails().merging(["reason": error.message]) { $1 })
            return false
        }
    }

    // MARK: Reporting

    /// The loaded certificates for `GET /v1/credentials`, signing order: never key material.
    public func describe() -> [CredentialInfo] {
        let order = signingOrder()
        let ranked = held.sorted { lhs, rhs in
            let l = order.firstIndex { $0.sha256Thumbprint == lhs.thumbprint } ?? Int.max
            let r = order.firstIndex { $0.sha256Thumbprint == rhs.thumbprint } ?? Int.max
            return l < r
        }
        return ranked.enumerated().map { index, entry in
            let credential = entry.credential
            return CredentialInfo(
                alias: credential.alias, subject: credential.subject,
                issuer: credential.certificate.issuer.description,
                notBefore: RFC3339.string(credential.certificate.notValidBefore),
                notAfter: RFC3339.string(credential.certificate.notValidAfter),
                x5t: credential.x5t, x5tS256: credential.x5tS256, algorithm: algorithm, active: index == 0,
                slot: entry.slot?.rawValue ?? "retained", idpStatus: entry.status.rawValue)
        }
    }

    /// Health `keystore`: the signing certificate (`x5t#S256`, `not_after`, which readiness checks), and the current
    /// and next ones with their expiry and what the IdP said.
    private func healthDetails() -> [String: String] {
        Self.healthDetails(held, retryRefusedAfter: retryRefusedAfter)
    }

    static func healthDetails(_ held: [Held], retryRefusedAfter: TimeInterval) -> [String: String] {
        var details: [String: String] = [:]
        if let signing = order(held, now: Date(), retryRefusedAfter: retryRefusedAfter).first?.credential {
            details["alias"] = signing.alias
            details["x5t#S256"] = signing.x5tS256
            details["not_after"] = RFC3339.string(signing.notValidAfter)
        }
        for entry in held {
            let name = entry.slot?.rawValue ?? "retained"
            details["\(name).x5t#S256"] = entry.credential.x5tS256
            details["\(name).not_after"] = RFC3339.string(entry.credential.notValidAfter)
            details["\(name).idp_status"] = entry.status.rawValue
        }
        return details
    }

    private func reportHealth() {
        health?.up("keystore", details: healthDetails())
    }

    private static func load(source: KeystoreSource, slot: Slot, logger: Logger) throws(KeystoreError) -> (LoadedKeystore, [UInt8]) {
        // The digest first: a file replaced between digest and load is loaded again at the next poll.
        let digest = source.contentDigest() ?? []
        let loaded = try source.load()
        let credential = loaded.credential
        // Both seed lines are written once the load succeeded, so a failed start prints only its one error line.
        logger.info("Loading certificate from keystore: \(source.files.joined(separator: ", "))", metadata: [
            LogKey.keystorePath: .string(source.path), LogKey.keystoreSlot: .string(slot.rawValue),
        ])
        logger.info("Certificate loaded successfully with alias: \(credential.alias)", metadata: [
            LogKey.certificateSubject: .string(credential.subject),
            LogKey.certificateNotAfter: .string(RFC3339.string(credential.notValidAfter)),
            LogKey.certificateX5t: .string(credential.x5t), LogKey.certificateX5tS256: .string(credential.x5tS256),
            LogKey.certificateSHA1: .string(credential.sha1ThumbprintHex),
            LogKey.keystoreSlot: .string(slot.rawValue),
        ])
        for warning in loaded.warnings {
            logger.warning("\(warning)", metadata: [LogKey.keystorePath: .string(source.path)])
        }
        return (loaded, digest)
    }
}

/// Polls the keystore files and reloads the credentials when they change.
public struct CredentialReloader: Service {
    let store: CredentialStore
    let interval: Duration

    public init(store: CredentialStore, interval: Duration) {
        self.store = store
        self.interval = interval
    }

    public func run() async throws {
        guard interval > .zero else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await store.reloadIfChanged()
            }
        }
    }
}
