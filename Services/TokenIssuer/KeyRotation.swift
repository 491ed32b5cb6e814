import AsyncHTTPClient
import AuthProtocol
import Foundation
import JOSE
import Keystore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceClient
import ServiceLifecycle
import ServiceSupport
import WireFormat

/// A failed step of zero-touch rotation: what failed and why, for the log and health (never a token or key).
struct RotationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Microsoft Graph's `application: addKey` / `removeKey` (and reading the application's key credentials), with the
/// proof of possession Graph documents: a JWT signed by one of the application's registered certificates, `aud`
/// `00000002-0000-0000-c000-000000000000`, `iss` the application's object id, valid at most 10 minutes.
struct GraphKeyClient: Sendable {
    static let proofAudience = "00000002-0000-0000-c000-000000000000"
    /// Graph's maximum proof lifetime (`exp` = `nbf` + 10 minutes).
    static let proofLifetime = 600

    let settings: RotationSettings
    let egress: EgressClients
    let timeout: TimeAmount

    var applicationURL: String {
        let base = settings.graphURL.absoluteString.hasSuffix("/") ? String(settings.graphURL.absoluteString.dropLast()) : settings.graphURL.absoluteString
        return "\(base)/v1.0/applications/\(settings.applicationObjectID)"
    }

    struct ProofClaims: Encodable {
        var aud: String
        var iss: String
        var nbf: Int
        var iat: Int
        var exp: Int
        var jti: String
    }

    /// The proof of possession signed with `signer` (a certificate registered on the application).
    static func proof(signer: Credential, objectID: String, now: Date = Date()) throws(RotationError) -> String {
        let issuedAt = Int(now.timeIntervalSince1970)
        let claims = ProofClaims(
            aud: proofAudience, iss: objectID, nbf: issuedAt, iat: issuedAt, exp: issuedAt + proofLifetime,
            jti: UUID().uuidString.lowercased())
        let header = JOSEHeader(alg: "RS256", typ: "JWT", kid: signer.sha1ThumbprintHex, x5t: signer.x5t, x5tS256: signer.x5tS256)
        do {
            return try JWS.sign(header: header, claims: claims, key: signer.privateKey, rsaSigner: signer.rsaSigner)
        } catch {
            throw RotationError("signing the proof of possession failed: \(error)")
        }
    }

    /// `POST /v1.0/applications/{id}/addKey`; returns the new key's `keyId`.
    func addKey(_ credential: Credential, proofSigner: Credential, accessToken: String) async throws(RotationError) -> String {
        struct KeyCredential: Encodable {
            var type = "AsymmetricX509Cert"
            var usage = "Verify"
            var key: String
            var displayName: String
        }
        struct Body: Encodable {
            var keyCredential: KeyCredential
            var passwordCredential: String?
            var proof: String
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(keyCredential, forKey: .keyCredential)
                try container.encodeNil(forKey: .passwordCredential)
                try container.encode(proof, forKey: .proof)
            }
            enum CodingKeys: String, CodingKey { case keyCredential, passwordCredential, proof }
        }
        let body = Body(
            keyCredential: KeyCredential(key: Data(credential.certificateDER).base64EncodedString(), displayName: "CN=\(credential.alias) (token-issuer)"),
            proof: try Self.proof(signer: proofSigner, objectID: settings.applicationObjectID))
        let (status, data) = try await post("\(applicationURL)/addKey", body: body, accessToken: accessToken)
        struct Added: Decodable { var keyId: String }
        guard status == 200, let added = try? JSONDecoder().decode(Added.self, from: data) else {
            throw RotationError("Graph addKey answered HTTP \(status): \(Self.graphError(data))")
        }
        return added.keyId
    }

    /// `POST /v1.0/applications/{id}/removeKey` (204 on success). Returns false when the key was already gone (404:
    /// another replica removed it first).
    @discardableResult
    func removeKey(keyID: String, proofSigner: Credential, accessToken: String) async throws(RotationError) -> Bool {
        struct Body: Encodable { var keyId: String; var proof: String }
        let body = Body(keyId: keyID, proof: try Self.proof(signer: proofSigner, objectID: settings.applicationObjectID))
        let (status, data) = try await post("\(applicationURL)/removeKey", body: body, accessToken: accessToken)
        // The application was found a moment ago (addKey or GET): a 404 here is the key, gone already.
        if status == 404 { return false }
        guard status == 204 || status == 200 else {
            throw RotationError("Graph removeKey answered HTTP \(status): \(Self.graphError(data))")
        }
        return true
    }

    /// The `keyId` of the registered certificate `credential`, from `GET /v1.0/applications/{id}?$select=keyCredentials`
    /// (matched by `customKeyIdentifier`, the certificate's SHA-1 thumbprint, in any of the forms Graph shows it).
    func keyID(of credential: Credential, accessToken: String) async throws(RotationError) -> String? {
        let url = "\(applicationURL)?$select=keyCredentials"
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        request.headers.add(name: "Accept", value: "application/json")
        let (status, data) = try await execute(request, url: url)
        struct Application: Decodable {
            struct Key: Decodable { var keyId: String; var customKeyIdentifier: String? }
            var keyCredentials: [Key]
        }
        guard status == 200, let application = try? JSONDecoder().decode(Application.self, from: data) else {
            throw RotationError("Graph GET application answered HTTP \(status): \(Self.graphError(data))")
        }
        let hex = credential.sha1ThumbprintHex.uppercased()
        let forms: Set<String> = [hex, Data(credential.sha1Thumbprint).base64EncodedString(), Data(hex.utf8).base64EncodedString()]
        return application.keyCredentials.first { key in key.customKeyIdentifier.map { forms.contains($0) || $0.uppercased() == hex } ?? false }?.keyId
    }

    private func post(_ url: String, body: some Encodable, accessToken: String) async throws(RotationError) -> (UInt, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        guard let encoded = try? JSONEncoder().encode(body) else { throw RotationError("encoding the Graph request failed") }
        request.body = .bytes(ByteBuffer(bytes: encoded))
        return try await execute(request, url: url)
    }

    private func execute(_ request: HTTPClientRequest, url: String) async throws(RotationError) -> (UInt, Data) {
        let (client, proxy) = egress.client(for: url)
        do {
            let response = try await client.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 1 << 20)
            return (response.status.code, Data(body.readableBytesView))
        } catch {
            throw RotationError("Graph at \(url) unreachable\(TokenEndpointClient.through(proxy)): \(String(describing: error).prefix(300))")
        }
    }

    /// Graph's `{"error": {"code", "message"}}`, shortened; never the request.
    static func graphError(_ data: Data) -> String {
        struct Envelope: Decodable {
            struct Inner: Decodable { var code: String?; var message: String? }
            var error: Inner?
        }
        if let envelope = try? JSONDecoder().decode(Envelope.self, from: data), let inner = envelope.error {
            return "\(inner.code ?? "error"): \(String((inner.message ?? "").prefix(300)))"
        }
        return String(decoding: data.prefix(200), as: UTF8.self)
    }
}

/// Zero-touch rotation at Entra (opt-in, ``RotationSettings``). When a certificate newer than the working one appears
/// on disk (the next credential, or the watched keystore replaced), it
/// 1. checks whether Entra already takes it (one exchange signed with it);
/// 2. if not, registers it with Graph `addKey`, the proof signed by the working certificate;
/// 3. switches to it once an exchange signed with it succeeds (retried until `verifyTimeout`: Entra replicates new
///    keys within minutes);
/// 4. after `gracePeriod`, removes the old key with Graph `removeKey` (proof signed by the new certificate).
/// Every step is logged and counted (`certauth_credential_rotation_steps_total{step,outcome}`); a failed step leaves
/// the working certificate in use and is retried later with backoff.
public actor KeyRotation {
    private let settings: RotationSettings
    private let store: CredentialStore
    private let endpoint: TokenEndpointClient
    private let cache: TokenCache
    private let graph: GraphKeyClient
    private let defaultScope: String
    private let logger: Logger
    private let health: HealthRegistry?
    /// Entra's keyId per certificate (SHA-256 thumbprint), learned from addKey answers.
    private var keyIDs: [[UInt8]: String] = [:]
    /// Old certificates whose key is removed at Entra once due.
    private var pendingRemoval: [(credential: Credential, due: Date, failures: Int)] = []
    /// Per new certificate, when to try again after a failed step.
    private var retryAt: [[UInt8]: (date: Date, failures: Int)] = [:]
    private let pollInterval: Duration

    init(settings: RotationSettings, store: CredentialStore, endpoint: TokenEndpointClient, cache: TokenCache, egress: EgressClients,
         defaultScope: String, timeout: Duration, pollInterval: Duration, logger: Logger, health: HealthRegistry?) {
        self.settings = settings
        self.store = store
        self.endpoint = endpoint
        self.cache = cache
        self.graph = GraphKeyClient(settings: settings, egress: egress, timeout: .seconds(timeout.components.seconds))
        self.defaultScope = defaultScope
        self.pollInterval = pollInterval
        self.logger = logger
        self.health = health
        health?.up("rotation", details: ["state": "idle", "graph": settings.graphURL.absoluteString])
    }

    /// One pass: due removals, then a newer certificate on disk, if any.
    func runOnce(now: Date = Date()) async {
        await removeDueKeys(now: now)
        let held = await store.all()
        guard held.contains(where: { $0.slot != nil && $0.status != .accepted && $0.status != .removed }) else { return }
        var working = await store.newestAccepted()
        if working == nil {
            // Nothing exchanged yet: the Graph token's exchange shows which certificate Entra takes.
            _ = try? await graphToken()
            working = await store.newestAccepted()
        }
        guard let working else { return }
        guard let candidate = await store.all().first(where: { entry in
            entry.slot != nil && (entry.status == .untried || entry.status == .refused || entry.status == .registered)
                && entry.credential.notValidBefore >= working.notValidBefore
                && entry.credential.sha256Thumbprint != working.sha256Thumbprint
        })?.credential else { return }
        if let retry = retryAt[candidate.sha256Thumbprint], retry.date > now { return }
        await roll(from: working, to: candidate)
    }

    private func roll(from working: Credential, to candidate: Credential) async {
        let metadata: Logger.Metadata = [LogKey.previousX5tS256: .string(working.x5tS256), LogKey.nextX5tS256: .string(candidate.x5tS256)]
        logger.notice("New client certificate on disk; rotating at Entra", metadata: metadata)
        health?.up("rotation", details: ["state": "rotating", "new.x5t#S256": candidate.x5tS256, "old.x5t#S256": working.x5tS256])
        // 1. Already registered (by an operator, or by another replica)?
        if (try? await endpoint.exchange(scope: defaultScope, pinned: candidate)) != nil {
            step("verify", success: true, metadata.merging([LogKey.rotationNote: "Entra already accepts the new certificate"]) { $1 })
            await switched(from: working, to: candidate, metadata: metadata)
            return
        }
        // 2. addKey, proof signed by the working certificate (not again when an earlier pass added it and only the
        // check that Entra takes it timed out).
        if keyIDs[candidate.sha256Thumbprint] == nil {
            let added: String
            do {
                let token = try await graphToken()
                added = try await graph.addKey(candidate, proofSigner: working, accessToken: token)
            } catch {
                failed("add_key", candidate: candidate, error: error, metadata: metadata)
                return
            }
            keyIDs[candidate.sha256Thumbprint] = added
            step("add_key", success: true, metadata.merging([LogKey.graphKeyID: .string(added)]) { $1 })
        }
        await store.registered(candidate)
        // 3. Switch once an exchange with it succeeds.
        let deadline = ContinuousClock.now + settings.verifyTimeout
        var delay = Duration.milliseconds(500)
        while true {
            do {
                _ = try await endpoint.exchange(scope: defaultScope, pinned: candidate)
                step("verify", success: true, metadata)
                await switched(from: working, to: candidate, metadata: metadata)
                return
            } catch {
                guard ContinuousClock.now + delay < deadline, !Task.isCancelled else {
                    failed("verify", candidate: candidate, error: RotationError("Entra did not accept the new certificate within \(settings.verifyTimeout): \(error.body.errorDescription)"), metadata: metadata)
                    return
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
    }

    private func switched(from working: Credential, to candidate: Credential, metadata: Logger.Metadata) async {
        retryAt[candidate.sha256Thumbprint] = nil
        step("switch", success: true, metadata.merging([LogKey.rotationGracePeriodSeconds: .stringConvertible(settings.gracePeriod.components.seconds)]) { $1 })
        let due = Date().addingTimeInterval(TimeInterval(settings.gracePeriod.components.seconds))
        if !pendingRemoval.contains(where: { $0.credential.sha256Thumbprint == working.sha256Thumbprint }) {
            pendingRemoval.append((working, due, 0))
        }
        await store.retain(working)
        health?.up("rotation", details: [
            "state": "switched", "signing.x5t#S256": candidate.x5tS256, "old.x5t#S256": working.x5tS256,
            "old_key_removal_at": RFC3339.string(due),
        ])
    }

    private func removeDueKeys(now: Date) async {
        for entry in pendingRemoval where entry.due <= now {
            let metadata: Logger.Metadata = [LogKey.previousX5tS256: .string(entry.credential.x5tS256)]
            do {
                guard let signer = await store.newestAccepted(), signer.sha256Thumbprint != entry.credential.sha256Thumbprint else {
                    throw RotationError("no newer accepted certificate to sign the proof with")
                }
                let token = try await graphToken()
                var keyID = keyIDs[entry.credential.sha256Thumbprint]
                if keyID == nil {
                    keyID = try await graph.keyID(of: entry.credential, accessToken: token)
                    step("find_key", success: true, metadata)
                }
                if let keyID {
                    let removed = try await graph.removeKey(keyID: keyID, proofSigner: signer, accessToken: token)
                    step("remove_key", success: true, metadata.merging([
                        LogKey.graphKeyID: .string(keyID), LogKey.rotationNote: .string(removed ? "removed" : "already removed (another replica)"),
                    ]) { $1 })
                } else {
                    logger.notice("Old certificate is no longer registered at Entra; nothing to remove", metadata: metadata)
                }
                keyIDs[entry.credential.sha256Thumbprint] = nil
                pendingRemoval.removeAll { $0.credential.sha256Thumbprint == entry.credential.sha256Thumbprint }
                await store.removed(entry.credential)
                health?.up("rotation", details: ["state": "idle", "signing.x5t#S256": signer.x5tS256, "removed.x5t#S256": entry.credential.x5tS256])
            } catch {
                let failures = entry.failures + 1
                let retry = now.addingTimeInterval(Self.backoff(failures: failures, base: pollInterval))
                pendingRemoval = pendingRemoval.map {
                    $0.credential.sha256Thumbprint == entry.credential.sha256Thumbprint ? ($0.credential, retry, failures) : $0
                }
                step("remove_key", success: false, metadata.merging([LogKey.rotationRetryAt: .string(RFC3339.string(retry))]) { $1 }, error: error)
                health?.degraded("rotation", details: [
                    "state": "removal_failed", "reason": String(describing: error), "old.x5t#S256": entry.credential.x5tS256,
                    "retry_at": RFC3339.string(retry),
                ])
            }
        }
    }

    /// The app's own Graph token (client credentials for the Graph scope, signed with the working certificate).
    private func graphToken() async throws(RotationError) -> String {
        do {
            return try await cache.token(scope: settings.graphScope).token
        } catch let error as TokenIssuanceError {
            step("graph_token", success: false, [:], error: error)
            throw RotationError("no Graph token for \(settings.graphScope): \(error.body.errorDescription)")
        } catch {
            step("graph_token", success: false, [:], error: error)
            throw RotationError("no Graph token for \(settings.graphScope): \(error)")
        }
    }

    private func failed(_ name: String, candidate: Credential, error: any Error, metadata: Logger.Metadata) {
        let failures = (retryAt[candidate.sha256Thumbprint]?.failures ?? 0) + 1
        let retry = Date().addingTimeInterval(Self.backoff(failures: failures, base: pollInterval))
        retryAt[candidate.sha256Thumbprint] = (retry, failures)
        step(name, success: false, metadata.merging([
            LogKey.rotationRetryAt: .string(RFC3339.string(retry)), LogKey.rotationNote: "the working certificate stays in use",
        ]) { $1 }, error: error)
        health?.degraded("rotation", details: [
            "state": "\(name)_failed", "reason": String(describing: error), "new.x5t#S256": candidate.x5tS256,
            "retry_at": RFC3339.string(retry),
        ])
    }

    private func step(_ name: String, success: Bool, _ metadata: Logger.Metadata, error: (any Error)? = nil) {
        Counter(label: "certauth_credential_rotation_steps_total", dimensions: [("step", name), ("outcome", success ? "success" : "failure")]).increment()
        var metadata = metadata
        metadata[LogKey.rotationStep] = .string(name)
        if success {
            logger.notice("Rotation step done", metadata: metadata)
        } else {
            logger.error("Rotation step failed", error: error, metadata: metadata)
        }
    }

    /// Seconds before retrying after `failures` failed attempts: the poll interval doubled per failure, at most an hour.
    static func backoff(failures: Int, base: Duration) -> TimeInterval {
        let seconds = max(Double(base.components.seconds), 1)
        return min(seconds * pow(2, Double(min(failures, 12) - 1)), 3600)
    }
}

/// Runs ``KeyRotation`` every poll interval.
public struct KeyRotationService: Service {
    let rotation: KeyRotation
    let interval: Duration

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await rotation.runOnce()
            }
        }
    }
}
