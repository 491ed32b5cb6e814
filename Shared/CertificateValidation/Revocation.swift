import Crypto
import Foundation
import Synchronization
@_spi(FixedExpiryValidationTime) import X509

/// Which revocation sources are consulted (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION`).
public enum RevocationMode: String, Sendable, CaseIterable {
    case off
    /// Certificate revocation lists from files (`…_MTLS_CRL_PATHS`, `certauth verify-chain --crl`).
    case crl
    /// The OCSP responder each certificate names (authorityInfoAccess), through ``OCSPClient``.
    case ocsp
    /// Both: the CRLs and the OCSP responders must each establish the status (or the failure policy decides), and a
    /// certificate revoked by either is refused.
    case crlAndOCSP = "crl+ocsp"

    public var usesCRL: Bool { self == .crl || self == .crlAndOCSP }
    public var usesOCSP: Bool { self == .ocsp || self == .crlAndOCSP }
}

/// What an unknown status does (`…_MTLS_REVOCATION_FAILURE`): `closed` refuses the certificate, `open` accepts it.
public enum RevocationFailurePolicy: String, Sendable, CaseIterable {
    case closed
    case open
}

/// CRLs read from files, reloaded when a file's content changes. A file that cannot be read or parsed keeps the
/// CRLs it held before (and says why in ``status``), so a botched copy does not turn revocation off.
///
/// A `Mutex`, not an actor: validations read the lists on the request path (on a cache miss) and must not hop.
public final class CRLStore: Sendable {
    public struct FileStatus: Sendable {
        public var path: String
        /// The CRLs' issuers, thisUpdate and nextUpdate (of the last good read).
        public var lists: [RevocationList]
        /// Why the last read failed, nil when it worked.
        public var error: String?
        var digest: [UInt8]
        /// When the file was last read without error.
        public var lastSuccess: Date?
        /// Reads that failed since start (metrics).
        public var failures = 0
    }

    private struct State {
        var files: [FileStatus]
    }

    public let paths: [String]
    /// The setting that lists the files, named in messages.
    public let setting: String
    private let state: Mutex<State>

    /// Reads every file; a file that fails at start is an error (the operator's configuration is wrong).
    public init(paths: [String], setting: String) throws(CertificateValidationError) {
        self.paths = paths
        self.setting = setting
        var files: [FileStatus] = []
        for path in paths {
            let read = Self.read(path)
            if let error = read.error {
                throw CertificateValidationError(code: .malformed, message: "\(setting): \(error)")
            }
            files.append(read)
        }
        state = Mutex(State(files: files))
    }

    /// Re-reads the files whose content changed; returns true when any CRL changed.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let current = state.withLock { $0.files }
        var changed = false
        var updated: [FileStatus] = []
        for old in current {
            var read = Self.read(old.path)
            if read.error != nil {
                var kept = old
                kept.error = read.error
                kept.failures += 1
                updated.append(kept)
            } else {
                if read.digest != old.digest { changed = true }
                read.failures = old.failures
                updated.append(read)
            }
        }
        state.withLock { $0.files = updated }
        return changed
    }

    public var status: [FileStatus] {
        state.withLock { $0.files }
    }

    public var lists: [RevocationList] {
        state.withLock { $0.files.flatMap(\.lists) }
    }

    static func read(_ path: String) -> FileStatus {
        guard let data = FileManager.default.contents(atPath: path) else {
            return FileStatus(path: path, lists: [], error: "\(path): file not found or unreadable", digest: [])
        }
        let bytes = [UInt8](data)
        do {
            let lists = try RevocationList.parse(bytes)
            guard !lists.isEmpty else {
                return FileStatus(path: path, lists: [], error: "\(path) holds no CRL (expected PEM 'X509 CRL' blocks or one DER CRL)", digest: [])
            }
            return FileStatus(path: path, lists: lists, error: nil, digest: Array(SHA256.hash(data: bytes)), lastSuccess: Date())
        } catch {
            return FileStatus(path: path, lists: [], error: "\(path) is not a readable CRL (\(error)); write it as PEM (openssl ca -gencrl) or DER", digest: [])
        }
    }
}

/// The revocation policy of one trust anchor (`…_MTLS_REVOCATION_BY_ANCHOR`), which replaces the global mode and
/// failure policy for chains that end at it.
public struct AnchorRevocationPolicy: Sendable, Equatable {
    public var mode: RevocationMode
    public var failure: RevocationFailurePolicy
    /// The anchor as the operator named it (a file or an SPKI digest), for messages.
    public var anchor: String

    public init(mode: RevocationMode, failure: RevocationFailurePolicy, anchor: String) {
        self.mode = mode
        self.failure = failure
        self.anchor = anchor
    }
}

/// How revocation is checked: the mode, the failure policy and where the CRLs come from.
public struct RevocationSettings: Sendable {
    public var mode: RevocationMode
    public var failure: RevocationFailurePolicy
    public var crls: CRLStore?
    /// The OCSP requester and response cache (modes `ocsp` and `crl+ocsp`).
    public var ocsp: OCSPClient?
    /// CRLs from the certificates' CRL distribution points (modes `crl` and `crl+ocsp`); nil: files only.
    public var fetcher: CRLFetcher?
    /// Per trust anchor policies by the anchor's SPKI SHA-256 (hex); an anchor not listed gets `mode` and `failure`.
    public var byAnchor: [String: AnchorRevocationPolicy] = [:]
    /// Settings named in messages (the caller's names: this library reads no environment).
    public var modeSetting: String
    public var failureSetting: String
    public var byAnchorSetting = "revocationByAnchor"
    /// Set when the policy is an anchor's: how to make that anchor fail open.
    var anchorEntry: AnchorRevocationPolicy?

    public init(mode: RevocationMode, failure: RevocationFailurePolicy = .closed, crls: CRLStore? = nil, ocsp: OCSPClient? = nil,
                fetcher: CRLFetcher? = nil,
                modeSetting: String = "revocation", failureSetting: String = "revocationFailure") {
        self.mode = mode
        self.failure = failure
        self.crls = crls
        self.ocsp = ocsp
        self.fetcher = fetcher
        self.modeSetting = modeSetting
        self.failureSetting = failureSetting
    }

    public static let off = RevocationSettings(mode: .off)

    /// Whether any chain is checked at all (globally or for some anchor).
    public var isActive: Bool {
        mode != .off || byAnchor.values.contains { $0.mode != .off }
    }

    /// The settings for a chain ending at `anchor`: its own policy when it has one.
    func forAnchor(_ anchor: Certificate) -> RevocationSettings {
        guard !byAnchor.isEmpty, let policy = byAnchor[CertificateNames.spkiSHA256(anchor)] else { return self }
        var settings = self
        settings.mode = policy.mode
        settings.failure = policy.failure
        settings.modeSetting = "\(byAnchorSetting) (\(policy.anchor)=\(policy.mode.rawValue))"
        settings.anchorEntry = policy
        return settings
    }

    /// How to accept certificates of unknown status, for messages.
    var failOpenHint: String {
        if let entry = anchorEntry {
            return "set \(entry.anchor)=\(entry.mode.rawValue)/open in \(byAnchorSetting)"
        }
        return "set \(failureSetting)=open"
    }
}

enum RevocationCheck {
    /// The revocation problem of a validated chain (leaf first, anchor last): every certificate below the anchor is
    /// looked up in a current CRL of its issuer, signed by the issuer's key.
    /// `freshUntil`: the earliest nextUpdate of the CRLs consulted, after which the verdict must be made again.
    /// With OCSP: the responses' earliest nextUpdate also bounds `freshUntil`; when a responder could not be asked
    /// (failure policy `open` let the chain pass), the verdict holds for ``unknownStatusHold`` only.
    static func evaluate(
        chain: [Certificate], at time: Date, settings global: RevocationSettings
    ) async -> (problem: CertificateValidationError?, freshUntil: Date?) {
        guard let anchor = chain.last else { return (nil, nil) }
        let settings = global.forAnchor(anchor)
        var freshUntil: Date?
        if settings.mode.usesCRL, chain.count > 1 {
            let fetched = await fetchedLists(chain: chain, at: time, settings: settings)
            if let refreshAt = fetched.refreshAt { freshUntil = refreshAt }
            let problem = problem(chain: chain, at: time, settings: settings, fetched: fetched.byCertificate) { next in
                freshUntil = min(freshUntil ?? next, next)
            }
            if let problem { return (problem, freshUntil) }
            if fetched.failed {
                // A distribution point could not be asked and the policy let the chain pass: held briefly only.
                let hold = time.addingTimeInterval(unknownStatusHold)
                freshUntil = min(freshUntil ?? hold, hold)
            }
        }
        if settings.mode.usesOCSP, chain.count > 1 {
            let (problem, next) = await ocspProblem(chain: chain, at: time, settings: settings)
            if let problem { return (problem, freshUntil) }
            if let next { freshUntil = min(freshUntil ?? next, next) }
        }
        return (nil, freshUntil)
    }

    /// What the CRL distribution points of each certificate below the anchor gave (by index in the chain).
    struct Fetched {
        var byCertificate: [Int: (lists: [RevocationList], errors: [String: String], uris: [String])] = [:]
        var refreshAt: Date?
        var failed = false
    }

    static func fetchedLists(chain: [Certificate], at time: Date, settings: RevocationSettings) async -> Fetched {
        var result = Fetched()
        guard let fetcher = settings.fetcher else { return result }
        for index in chain.indices.dropLast() {
            let uris: [String]
            do {
                uris = try CRLDistributionPoints(chain[index])?.httpURIs() ?? []
            } catch {
                result.byCertificate[index] = ([], ["cRLDistributionPoints": "its cRLDistributionPoints extension is malformed (\(error))"], [])
                result.failed = true
                continue
            }
            guard !uris.isEmpty else { continue }
            let got = await fetcher.lists(for: uris, now: time)
            result.byCertificate[index] = (got.lists, got.errors, uris)
            if !got.errors.isEmpty { result.failed = true }
            if let at = got.refreshAt { result.refreshAt = min(result.refreshAt ?? at, at) }
        }
        return result
    }

    static let unknownStatusHold: TimeInterval = 30

    /// Asks the responders of every certificate below the anchor through swift-certificates' `OCSPVerifierPolicy`.
    static func ocspProblem(
        chain: [Certificate], at time: Date, settings: RevocationSettings
    ) async -> (CertificateValidationError?, Date?) {
        let path = chain.map(ChainRules.name).joined(separator: " -> ")
        guard let client = settings.ocsp else {
            return (CertificateValidationError(
                code: .revocationUnknown,
                message: "\(settings.modeSetting)=\(settings.mode.rawValue) but no OCSP requester is configured; this is a bug"), nil)
        }
        let recorder = OCSPRecorder()
        let requester = OCSPPolicyRequester(client: client, failure: settings.failure, recorder: recorder, now: time)
        let closed = settings.failure == .closed
        var verifier = Verifier(rootCertificates: CertificateStore([chain[chain.count - 1]])) {
            AlreadyValidatedChain(chain)
            if closed {
                OCSPResponderRequired()
            }
            OCSPVerifierPolicy(failureMode: closed ? .hard : .soft, requester: requester, fixedExpiryValidationTime: time)
        }
        let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore(Array(chain.dropFirst().dropLast())))
        guard case .couldNotValidate(let failures) = result else {
            let next = recorder.errors.isEmpty ? recorder.nextUpdate : time.addingTimeInterval(unknownStatusHold)
            return (nil, next)
        }
        let reason = failures.first.map { "\($0.policyFailureReason)" } ?? "the chain could not be rebuilt for the OCSP check"
        let responder = recorder.asked.last.map { " (responder \($0))" } ?? ""
        if reason.contains("revoked through OCSP") {
            return (CertificateValidationError(
                code: .revoked,
                message: "a certificate of the chain \(path) was revoked: the OCSP responder answered \(reason)\(responder); issue the client a new certificate"), nil)
        }
        if reason.contains(OCSPMessages.noResponderMarker) {
            return (CertificateValidationError(
                code: .revocationUnknown,
                message: "the revocation status of the chain \(path) is unknown: \(reason); issue certificates with an OCSP responder URI (authorityInfoAccess), use \(settings.modeSetting)=crl, or \(settings.failOpenHint) to accept certificates whose status is unknown"), nil)
        }
        let errors = recorder.errors
        let cause = errors.isEmpty ? reason : errors.joined(separator: "; ")
        return (CertificateValidationError(
            code: .revocationUnknown,
            message: "the revocation status of the chain \(path) is unknown: \(cause)\(errors.isEmpty ? responder : ""); bring the OCSP responder back, or \(settings.failOpenHint) to accept certificates whose status is unknown"), nil)
    }

    static func problem(
        chain: [Certificate], at time: Date, settings: RevocationSettings,
        fetched: [Int: (lists: [RevocationList], errors: [String: String], uris: [String])] = [:],
        consulted: (Date) -> Void = { _ in }
    ) -> CertificateValidationError? {
        guard settings.mode.usesCRL, chain.count > 1 else { return nil }
        let files = settings.crls?.lists ?? []
        let filesSetting = settings.crls?.setting ?? "the CRL files"
        for index in chain.indices.dropLast() {
            let certificate = chain[index]
            let issuer = chain[index + 1]
            let role = ChainRules.role(of: index, in: chain)
            let keyUsage: KeyUsage? = try? issuer.extensions.keyUsage
            let mayIssueCRLs = keyUsage?.cRLSign ?? true
            let fromPoints = fetched[index]
            // Each CRL with where it came from (a file setting or its distribution point), for messages.
            let lists = files.map { ($0, "in \(filesSetting)") } + (fromPoints?.lists ?? []).map { ($0, "from its CRL distribution point") }
            let candidates = lists.filter { $0.0.issuer == certificate.issuer && mayIssueCRLs && $0.0.isSigned(by: issuer) }
            guard let (list, source) = candidates.max(by: { $0.0.thisUpdate < $1.0.thisUpdate }) else {
                var reason: String
                if let wrong = lists.first(where: { $0.0.issuer == certificate.issuer }) {
                    reason = "the CRLs named '\(DistinguishedNameFormat.string(certificate.issuer))' \(wrong.1) are not signed by \(ChainRules.name(issuer))\(mayIssueCRLs ? "" : " (its keyUsage lacks cRLSign)")"
                } else {
                    reason = "no CRL of \(ChainRules.name(issuer)) is in \(filesSetting)"
                    if settings.fetcher != nil {
                        if let fromPoints, !fromPoints.errors.isEmpty {
                            reason += ", and its CRL distribution point gave none: " + fromPoints.errors.sorted(by: { $0.key < $1.key }).map(\.value).joined(separator: "; ")
                        } else if fromPoints == nil {
                            reason += ", and the certificate names no http CRL distribution point"
                        }
                    }
                }
                let fix = fromPoints?.errors.isEmpty == false
                    ? "bring the CRL distribution point back (health 'crl' shows its last error)"
                    : "add the current CRL of \(ChainRules.name(issuer)) to \(filesSetting)"
                if let problem = unknown(role.noun, certificate, reason, fix, settings) {
                    return problem
                }
                continue
            }
            if let revokedAt = list.isRevoked(certificate), revokedAt <= time {
                return CertificateValidationError(
                    code: .revoked,
                    message: "\(role.noun) \(ChainRules.name(certificate)) (serial \(certificate.serialNumber)) was revoked at \(ChainRules.timestamp(revokedAt)) by \(ChainRules.name(issuer)) (CRL of \(ChainRules.timestamp(list.thisUpdate))); issue the client a new certificate")
            }
            if let nextUpdate = list.nextUpdate { consulted(nextUpdate) }
            if let nextUpdate = list.nextUpdate, nextUpdate < time {
                var reason = "the newest CRL of \(ChainRules.name(issuer)) \(source) is stale: its next update was due at \(ChainRules.timestamp(nextUpdate))"
                if let errors = fromPoints?.errors, !errors.isEmpty {
                    reason += " (" + errors.sorted(by: { $0.key < $1.key }).map(\.value).joined(separator: "; ") + ")"
                }
                let fix = source.hasPrefix("from") ? "have the CA publish a new CRL at its distribution point" : "publish a new CRL (openssl ca -gencrl) to \(filesSetting)"
                if let problem = unknown(role.noun, certificate, reason, fix, settings) {
                    return problem
                }
            }
        }
        return nil
    }

    private static func unknown(
        _ noun: String, _ certificate: Certificate, _ reason: String, _ fix: String, _ settings: RevocationSettings
    ) -> CertificateValidationError? {
        guard settings.failure == .closed else { return nil }
        return CertificateValidationError(
            code: .revocationUnknown,
            message: "the revocation status of \(noun) \(ChainRules.name(certificate)) is unknown: \(reason); \(fix), or \(settings.failOpenHint) to accept certificates whose status is unknown")
    }
}
