import AuthProtocol
import Crypto
import Foundation
import Keystore
import Logging
import ServiceLifecycle
import ServiceSupport
import Storage

/// Cookie sessions of the seed's service-account flow. The cookie holds 32 random bytes; only their SHA-256 is
/// stored, so a leaked database holds no usable session. In memory by default; in the database (SQLite file or
/// PostgreSQL, shared by replicas, surviving restarts) with `CAMUNDA_PERSISTENT_SESSIONS_ENABLED=true`.
actor SessionManager {
    private let store: (any SessionStore)?
    private var memory: [String: StoredSession] = [:]
    private let maximumLifetime: TimeInterval
    private let logger: Logger
    let cookieName: String
    let secureCookie: Bool

    init(store: (any SessionStore)?, settings: SessionSettings, logger: Logger) {
        self.store = store
        self.maximumLifetime = TimeInterval(settings.maximumLifetime.components.seconds)
        self.cookieName = settings.cookieName
        self.secureCookie = settings.secureCookie
        self.logger = logger
    }

    /// Stores `authentication` as a session; returns the cookie value and when it ends.
    func create(_ authentication: Authentication, now: Date = Date()) async throws -> (cookie: String, expiresAt: Date) {
        var random = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let cookie = Base64URL.encode(secret)
        let expiresAt = min(authentication.expiresAt ?? now.addingTimeInterval(maximumLifetime), now.addingTimeInterval(maximumLifetime))
        var stored = authentication
        stored.principal.authenticationMethod = .session
        stored.principal.expiresAt = RFC3339.string(expiresAt)
        stored.expiresAt = expiresAt
        let session = StoredSession(
            id: Self.id(of: cookie), payload: Array(try JSONEncoder().encode(stored)), expiresAt: expiresAt, createdAt: now)
        if let store {
            try await store.save(session)
        } else {
            if memory.count >= 100_000 { purgeMemory(now: now) }
            memory[session.id] = session
        }
        logger.info("Session created", metadata: [
            "principal": .string(authentication.principal.principal), "credential": .string(authentication.credential),
            "session": .string(String(session.id.prefix(12))), "expires_at": .string(RFC3339.string(expiresAt)),
        ])
        return (cookie, expiresAt)
    }

    /// The session for a cookie value, if it exists and has not expired.
    func lookup(cookie: String, now: Date = Date()) async throws -> Authentication? {
        let id = Self.id(of: cookie)
        let session: StoredSession?
        if let store {
            session = try await store.load(id: id, now: now)
        } else {
            session = memory[id].flatMap { $0.expiresAt > now ? $0 : nil }
        }
        guard let session, session.expiresAt > now else { return nil }
        return try? JSONDecoder().decode(Authentication.self, from: Data(session.payload))
    }

    /// Drops expired sessions.
    func purge(now: Date = Date()) async {
        if let store {
            do {
                let removed = try await store.purgeExpired(now: now)
                if removed > 0 { logger.debug("Expired sessions removed", metadata: ["count": .stringConvertible(removed)]) }
            } catch {
                logger.warning("Could not remove expired sessions", metadata: ["error": .string(String(describing: error))])
            }
        } else {
            purgeMemory(now: now)
        }
    }

    private func purgeMemory(now: Date) {
        memory = memory.filter { $0.value.expiresAt > now }
    }

    static func id(of cookie: String) -> String {
        SHA256.hash(data: Array(cookie.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Removes expired sessions every minute.
struct SessionPurger: Service {
    let sessions: SessionManager

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                if Task.isCancelled { break }
                await sessions.purge()
            }
        }
    }
}

/// The seed's request flow (steps 1 to 10) for a request that arrives without credentials while
/// `CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI=true` and `CAMUNDA_SECURITY_CERT_AUTH_ENABLED=true`: authn asks
/// token-issuer for a token (token-issuer signs the client assertion and exchanges it at the IdP), validates that token
/// like any other, resolves its roles, and keeps the result in a session so later requests skip the flow.
struct ServiceAccountFlow: Sendable {
    let tokenIssuer: InternalClient
    let scope: String?
    let authenticator: Authenticator
    let health: HealthRegistry

    func signIn(trace: TraceContext?) async throws(AuthenticationFailure) -> Authentication {
        let token: TokenResponse
        do {
            token = try await tokenIssuer.post(ProtocolPath.token, TokenRequest(scope: scope), as: TokenResponse.self, trace: trace, idempotent: true)
            health.up("token-issuer")
        } catch {
            if error.status == nil { health.degraded("token-issuer", details: ["error": error.message]) }
            let hint = error.body?.hint.map { " Hint: \($0)" } ?? ""
            throw AuthenticationFailure(.unavailable, "service-account sign-in failed: \(error.message).\(hint)")
        }
        var authentication = try await authenticator.authenticate(token: token.accessToken, presentation: .obtainedByAuthn, trace: trace)
        authentication.principal.authenticationMethod = .session
        return authentication
    }
}
