import AuthProtocol
import Crypto
import Foundation
import Logging
import ServiceClient
import ServiceSupport

/// Asks the roles service which roles a token's claims or a certificate subject get, over the internal protocol.
/// Answers are reused for a short time (`CAMUNDA_AUTHN_RESOLVE_CACHE_TTL`) for the same claims (ignoring the
/// per-token ones: `exp`, `iat`, `nbf`, `jti`, `uti`, `rh`, `aio`) or subject, so a client sending a fresh token
/// on each request costs one resolution per TTL.
actor RolesResolver {
    private struct Entry {
        var answer: ResolveResponse
        var until: ContinuousClock.Instant
    }

    static let volatileClaims: Set<String> = ["exp", "iat", "nbf", "jti", "uti", "rh", "aio"]

    private let client: InternalClient
    private let ttl: Duration
    private let capacity: Int
    private let health: HealthRegistry
    private let logger: Logger
    private var entries: [[UInt8]: Entry] = [:]

    init(client: InternalClient, ttl: Duration, health: HealthRegistry, logger: Logger, capacity: Int = 10_000) {
        self.client = client
        self.ttl = ttl
        self.capacity = capacity
        self.health = health
        self.logger = logger
    }

    /// The roles for `request`; throws when roles cannot be asked (the caller answers 503: authn does not guess roles).
    func resolve(_ request: ResolveRequest, trace: TraceContext?) async throws(InternalCallError) -> ResolveResponse {
        let key = Self.cacheKey(request)
        let now = ContinuousClock.now
        if ttl > .zero, let entry = entries[key], entry.until > now {
            return entry.answer
        }
        let answer: ResolveResponse
        do {
            let client = self.client
            answer = try await ServiceTracing.withSpan("roles resolution", trace: trace) { trace throws(InternalCallError) in
                try await client.post(ProtocolPath.resolve, request, as: ResolveResponse.self, trace: trace, idempotent: true)
            }
            health.up("roles")
        } catch {
            health.degraded("roles", details: ["error": error.message])
            throw error
        }
        if ttl > .zero {
            if entries.count >= capacity {
                entries = entries.filter { $0.value.until > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(answer: answer, until: now + ttl)
        }
        return answer
    }

    static func cacheKey(_ request: ResolveRequest) -> [UInt8] {
        var stable = request
        stable.claims = request.claims?.filter { !volatileClaims.contains($0.key) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(stable)) ?? Data()
        return Array(SHA256.hash(data: bytes))
    }
}
