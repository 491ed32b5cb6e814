import AuthProtocol
import Crypto
import Foundation
import Keystore
import Logging
import ServiceClient
import ServiceLifecycle
import ServiceSupport
import Storage
import WireFormat

/// Cookie sessions. The cookie holds 32 random bytes; only their SHA-256 is stored, so a leaked database holds no
/// usable session. In memory by default; in the database (SQLite file or PostgreSQL, shared by replicas, surviving
/// restarts) with `CAMUNDA_PERSISTENT_SESSIONS_ENABLED=true`. Bounded: at most `maximumCount` sessions in memory (the
/// oldest is evicted), and at most `creationBurst` new sessions at once, refilled at `creationRate` per second
/// (``SessionLimitError`` beyond), so no caller can grow authn's memory or the session table without bound.
actor SessionManager {
    private let store: (any SessionStore)?
    private var memory: [String: StoredSession] = [:]
    /// Memory sessions by creation, oldest first (ids; an id no longer in `memory` is skipped).
    private var order: [String] = []
    private var orderStart = 0
    private let maximumLifetime: TimeInterval
    private let maximumCount: Int
    private var limiter: TokenBucket
    private let logger: Logger
    let cookieName: String

    init(store: (any SessionStore)?, settings: SessionSettings, logger: Logger) {
        self.store = store
        self.maximumLifetime = TimeInterval(settings.maximumLifetime.components.seconds)
        self.maximumCount = settings.maximumCount
        self.limiter = TokenBucket(rate: settings.creationRate, burst: settings.creationBurst)
        self.cookieName = settings.cookieName
        self.logger = logger
    }

    /// Stores `authentication` as a session; returns the cookie value and when it ends.
    func create(_ authentication: Authentication, now: Date = Date()) async throws -> (cookie: String, expiresAt: Date) {
        var random = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let cookie = Base64URL.encode(secret)
        let expiresAt = try await save(authentication, id: Self.id(of: cookie), now: now)
        return (cookie, expiresAt)
    }

    /// Stores `authentication` under `id` (rate-limited and capped like every session) and returns when it ends.
    func save(_ authentication: Authentication, id: String, now: Date = Date()) async throws -> Date {
        guard limiter.take(now: now) else {
            throw SessionLimitError(
                message: "more than \(limiter.burst) sessions were created within \(Int(Double(limiter.burst) / limiter.rate)) s (CAMUNDA_SECURITY_AUTHENTICATION_SESSION_CREATION_RATE); try again shortly")
        }
        let expiresAt = min(authentication.expiresAt ?? now.addingTimeInterval(maximumLifetime), now.addingTimeInterval(maximumLifetime))
        var stored = authentication
        if stored.principal.authenticationMethod != .anonymous { stored.principal.authenticationMethod = .session }
        stored.principal.expiresAt = RFC3339.string(expiresAt)
        stored.expiresAt = expiresAt
        let session = StoredSession(id: id, payload: Array(try JSONEncoder().encode(stored)), expiresAt: expiresAt, createdAt: now)
        if let store {
            try await store.save(session)
        } else {
            if memory[id] == nil {
                if memory.count >= maximumCount { purgeMemory(now: now) }
                while memory.count >= maximumCount { evictOldest() }
                order.append(id)
            }
            memory[id] = session
        }
        logger.info("Session created", metadata: [
            LogKey.principal: .string(authentication.principal.principal), LogKey.credential: .string(authentication.credential),
            LogKey.sessionID: .string(String(id.prefix(12))), LogKey.sessionExpiresAt: .string(RFC3339.string(expiresAt)),
        ])
        return expiresAt
    }

    /// The session for a cookie value, if it exists and has not expired.
    func lookup(cookie: String, now: Date = Date()) async throws -> Authentication? {
        try await load(id: Self.id(of: cookie), now: now)
    }

    /// The session stored under `id`, if it exists and has not expired.
    func load(id: String, now: Date = Date()) async throws -> Authentication? {
        let session: StoredSession?
        if let store {
            session = try await store.load(id: id, now: now)
        } else {
            session = memory[id].flatMap { $0.expiresAt > now ? $0 : nil }
        }
        guard let session, session.expiresAt > now else { return nil }
        return try? JSONDecoder().decode(Authentication.self, from: Data(session.payload))
    }

    /// How many sessions are held in memory (tests).
    var memoryCount: Int { memory.count }

    /// Drops expired sessions.
    func purge(now: Date = Date()) async {
        if let store {
            do {
                let removed = try await store.purgeExpired(now: now)
                if removed > 0 { logger.debug("Expired sessions removed", metadata: [LogKey.sessionCount: .stringConvertible(removed)]) }
            } catch {
                logger.warning("Could not remove expired sessions", error: error)
            }
        } else {
            purgeMemory(now: now)
        }
    }

    private func purgeMemory(now: Date) {
        memory = memory.filter { $0.value.expiresAt > now }
        order = order[orderStart...].filter { memory[$0] != nil }
        orderStart = 0
    }

    private func evictOldest() {
        while orderStart < order.count {
            let id = order[orderStart]
            orderStart += 1
            if memory.removeValue(forKey: id) != nil { break }
        }
        if orderStart > 1024, orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
    }

    static func id(of cookie: String) -> String {
        Hex.encode(SHA256.hash(data: Array(cookie.utf8)))
    }
}

/// Too many sessions created too fast (authn answers 503 with Retry-After).
struct SessionLimitError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A token bucket: `burst` at once, refilled at `rate` per second.
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Int
    private var tokens: Double
    private var last: Date?

    init(rate: Double, burst: Int) {
        self.rate = max(rate, 0.001)
        self.burst = max(burst, 1)
        self.tokens = Double(max(burst, 1))
    }

    mutating func take(now: Date) -> Bool {
        if let last { tokens = min(Double(burst), tokens + max(0, now.timeIntervalSince(last)) * rate) }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
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

/// The seed's request flow (steps 1 to 10; docs/authn.md, "The seed's request flow and sessions") for a request that
/// arrives without credentials while
/// `CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI=true` and `CAMUNDA_SECURITY_CERT_AUTH_ENABLED=true`: authn asks
/// token-issuer for a token (token-issuer signs the client assertion and exchanges it at the IdP) and validates that
/// token like any other, which proves the whole chain works. The anonymous caller gets the service identity as its
/// principal but only the roles an operator configured for anonymous use (`CAMUNDA_SECURITY_AUTHENTICATION_ANONYMOUS_ROLES`,
/// none by default), never the service identity's own: "no automatic privilege escalation" (seed).
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
            throw AuthenticationFailure(.unavailable, "service-account sign-in failed: \(error.message).\(hint)", code: .signInUnavailable)
        }
        return try await authenticator.authenticate(token: token.accessToken, presentation: .obtainedByAuthn, trace: trace)
    }
}

/// Every anonymous caller shares one sign-in: the first request without credentials runs the service-account flow,
/// later ones reuse its result until it expires (one token-issuer call per token lifetime, single flight, no session
/// or cookie per request). With persistent sessions the shared sign-in is kept in the session store, so replicas
/// and restarts reuse it. Failed sign-ins are not repeated more than once per `retryGap`.
actor AnonymousAccess {
    /// The session-store id of the shared anonymous sign-in (never the SHA-256 of a cookie, which is hex).
    static let sessionID = "anonymous-sign-in"

    private let flow: ServiceAccountFlow
    private let roles: [String]
    private let sessions: SessionManager
    private let retryGap: Duration
    private let logger: Logger
    private var current: Authentication?
    private var inFlight: Task<Result<Authentication, AuthenticationFailure>, Never>?
    private var lastFailure: (at: ContinuousClock.Instant, error: AuthenticationFailure)?

    init(flow: ServiceAccountFlow, roles: [String], sessions: SessionManager, retryGap: Duration = .seconds(2), logger: Logger) {
        self.flow = flow
        self.roles = roles
        self.sessions = sessions
        self.retryGap = retryGap
        self.logger = logger
    }

    /// The anonymous caller: the service identity as principal, the anonymous roles, method `anonymous`.
    func authentication(trace: TraceContext?) async throws(AuthenticationFailure) -> Authentication {
        let now = Date()
        if let current, (current.expiresAt ?? .distantPast) > now.addingTimeInterval(30) { return current }
        if let inFlight { return try await inFlight.value.get() }
        if let lastFailure, ContinuousClock.now - lastFailure.at < retryGap { throw lastFailure.error }
        let task = Task { await self.signIn(trace: trace) }
        inFlight = task
        let result = await task.value
        inFlight = nil
        switch result {
        case .success(let authentication):
            current = authentication
            lastFailure = nil
        case .failure(let error):
            lastFailure = (ContinuousClock.now, error)
        }
        return try result.get()
    }

    private func signIn(trace: TraceContext?) async -> Result<Authentication, AuthenticationFailure> {
        let now = Date()
        if let stored = try? await sessions.load(id: Self.sessionID, now: now),
           (stored.expiresAt ?? .distantPast) > now.addingTimeInterval(30), stored.principal.roles == roles {
            logger.info("Anonymous sign-in reused from the session store", metadata: [
                LogKey.principal: .string(stored.principal.principal), LogKey.sessionExpiresAt: .string(stored.principal.expiresAt ?? "-"),
            ])
            return .success(stored)
        }
        let signedIn: Authentication
        do {
            signedIn = try await flow.signIn(trace: trace)
        } catch {
            return .failure(error)
        }
        var anonymous = signedIn
        anonymous.principal.authenticationMethod = .anonymous
        anonymous.principal.roles = roles
        anonymous.principal.authorities = roles
        logger.info("Service-account sign-in for anonymous callers", metadata: [
            LogKey.principal: .string(anonymous.principal.principal), LogKey.roles: .string(roles.joined(separator: " ")),
            LogKey.sessionExpiresAt: .string(anonymous.principal.expiresAt ?? "-"),
        ])
        do {
            let expiresAt = try await sessions.save(anonymous, id: Self.sessionID, now: now)
            anonymous.expiresAt = expiresAt
            anonymous.principal.expiresAt = RFC3339.string(expiresAt)
        } catch {
            logger.warning("The shared anonymous sign-in could not be stored; it is kept in memory", error: error)
        }
        return .success(anonymous)
    }
}
