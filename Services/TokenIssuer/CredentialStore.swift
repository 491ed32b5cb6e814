import AuthProtocol
import Crypto
import Foundation
import Keystore
import Logging
import ServiceLifecycle
import ServiceSupport
import X509

/// Owns the signing credential and reloads it when the keystore file changes, so a rotated certificate is
/// used without a restart. A reload that fails keeps the credential in use and says why.
public actor CredentialStore {
    private let source: KeystoreSource
    private let logger: Logger
    private let health: HealthRegistry?
    private var active: Credential
    /// Credentials used earlier in this process (most recent first), listed for operators during a rotation.
    private var previous: [Credential] = []
    private var fileDigest: [UInt8]
    private let algorithm: String

    /// Loads the keystore once; throws the keystore's one-line error when it can't.
    public init(source: KeystoreSource, algorithm: String, logger: Logger, health: HealthRegistry? = nil) throws(KeystoreError) {
        self.source = source
        self.logger = logger
        self.health = health
        self.algorithm = algorithm
        let (loaded, digest) = try Self.load(source: source, logger: logger)
        self.active = loaded.credential
        self.fileDigest = digest
        health?.up("keystore", details: Self.details(loaded.credential))
    }

    /// The credential that signs new assertions.
    public func current() -> Credential { active }

    /// Re-reads the keystore when its content changed; returns true when a new certificate is in use.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        guard let digest = source.contentDigest() else {
            logger.error("Keystore file unreadable; keeping the certificate in use", metadata: [
                "keystore.path": .string(source.files.joined(separator: ", ")), "x5t#S256": .string(active.x5tS256),
            ])
            health?.degraded("keystore", details: ["reason": "Certificate keystore not found or unreadable: \(source.files.joined(separator: ", "))"])
            return false
        }
        guard digest != fileDigest else { return false }
        return reload(reason: "keystore file changed")
    }

    /// Re-reads the keystore now (after the IdP refused the certificate, or when the file changed).
    @discardableResult
    public func reload(reason: String) -> Bool {
        do {
            // A failure leaves fileDigest as it was, so the next poll tries again (a certificate and key replaced one
            // after the other, rather than through Kubernetes' atomic link swap, can mismatch for a moment).
            let (loaded, digest) = try Self.load(source: source, logger: logger)
            fileDigest = digest
            guard loaded.credential.sha256Thumbprint != active.sha256Thumbprint else {
                health?.up("keystore", details: Self.details(active))
                return false
            }
            logger.notice("Certificate rotated", metadata: [
                "reason": .string(reason),
                "old.x5t#S256": .string(active.x5tS256), "new.x5t#S256": .string(loaded.credential.x5tS256),
            ])
            previous.insert(active, at: 0)
            previous = Array(previous.prefix(3))
            active = loaded.credential
            health?.up("keystore", details: Self.details(active))
            return true
        } catch {
            logger.error("Keystore reload failed; keeping the certificate in use", metadata: [
                "reason": .string(reason), "error": .string(error.message), "x5t#S256": .string(active.x5tS256),
            ])
            health?.degraded("keystore", details: ["reason": error.message, "in_use.x5t#S256": active.x5tS256])
            return false
        }
    }

    /// The loaded certificates for `GET /v1/credentials`: never key material.
    public func describe() -> [CredentialInfo] {
        ([active] + previous).enumerated().map { index, credential in
            CredentialInfo(
                alias: credential.alias, subject: credential.subject,
                issuer: credential.certificate.issuer.description,
                notBefore: RFC3339.string(credential.certificate.notValidBefore),
                notAfter: RFC3339.string(credential.certificate.notValidAfter),
                x5t: credential.x5t, x5tS256: credential.x5tS256, algorithm: algorithm, active: index == 0)
        }
    }

    private static func load(source: KeystoreSource, logger: Logger) throws(KeystoreError) -> (LoadedKeystore, [UInt8]) {
        // The digest first: a file replaced between digest and load is loaded again at the next poll.
        let digest = source.contentDigest() ?? []
        let loaded = try source.load()
        let credential = loaded.credential
        // Both seed lines are written once the load succeeded, so a failed start prints only its one error line.
        logger.info("Loading certificate from keystore: \(source.files.joined(separator: ", "))", metadata: ["keystore.path": .string(source.path)])
        logger.info("Certificate loaded successfully with alias: \(credential.alias)", metadata: [
            "certificate.subject": .string(credential.subject),
            "certificate.not_after": .string(RFC3339.string(credential.notValidAfter)),
            "x5t": .string(credential.x5t), "x5t#S256": .string(credential.x5tS256),
            "thumbprint.sha1": .string(credential.sha1Thumbprint.map { String(format: "%02X", $0) }.joined()),
        ])
        for warning in loaded.warnings {
            logger.warning("\(warning)", metadata: ["keystore.path": .string(source.path)])
        }
        return (loaded, digest)
    }

    private static func details(_ credential: Credential) -> [String: String] {
        ["alias": credential.alias, "x5t#S256": credential.x5tS256, "not_after": RFC3339.string(credential.notValidAfter)]
    }
}

/// Polls the keystore file and reloads the credential when it changes.
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
