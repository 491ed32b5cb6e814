import AuthProtocol
import Foundation
import Logging
import ServiceSupport
import Metrics

/// A cached access token. `token` is a secret.
public struct CachedToken: Sendable {
    public var token: String
    public var scope: String
    /// Monotonic instant after which the token must not be served.
    public var expiresAt: ContinuousClock.Instant
    /// Monotonic instant from which a refresh starts in the background.
    public var refreshAt: ContinuousClock.Instant
    /// Wall-clock expiry, for `expires_at` in answers.
    public var expiresAtDate: Date
}

/// Access tokens per scope, with one exchange in flight per scope however many callers wait (single flight),
/// refresh ahead of expiry (at the IdP's `refresh_in` when it sends one, else 5 minutes before, or at half-life for short tokens), a still-valid token served while a
/// refresh fails, and no failure ever cached. A cancelled caller never cancels the shared exchange: it runs in its
/// own task and only the waiting stops.
public actor TokenCache {
    public typealias Fetch = @Sendable (String) async throws -> FetchedToken

    private enum State {
        case cached(CachedToken)
        case refreshing(Task<CachedToken, any Error>, serving: CachedToken?)
    }

    private var states: [String: State] = [:]
    /// When the last background refresh of a scope failed; limits refresh attempts while a valid token is served.
    private var lastFailure: [String: ContinuousClock.Instant] = [:]
    private let fetch: Fetch
    private let now: @Sendable () -> ContinuousClock.Instant
    private let wallNow: @Sendable () -> Date
    private let refreshMargin: Duration
    private let retryGap: Duration
    private let logger: Logger
    /// The answers the lean path repeats (``TokenIssuerImmediate``), emptied with the cache.
    nonisolated let leanAnswers = AnswerCache<LeanToken>()
    private let hits = Counter(label: "certauth_token_cache_hits_total")
    private let misses = Counter(label: "certauth_token_cache_misses_total")

    /// - Parameters:
    ///   - refreshMargin: refresh this long before expiry (capped at half the token's lifetime).
    ///   - retryGap: after a failed background refresh, wait this long before the next attempt while the old token is valid.
    ///   - now/wallNow: clocks, injectable for tests.
    public init(
        refreshMargin: Duration = .seconds(300), retryGap: Duration = .seconds(5), logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        wallNow: @escaping @Sendable () -> Date = { Date() },
        fetch: @escaping Fetch
    ) {
        self.fetch = fetch
        self.now = now
        self.wallNow = wallNow
        self.refreshMargin = refreshMargin
        self.retryGap = retryGap
        self.logger = logger
    }

    /// A valid token for `scope`: from the cache, from the exchange in flight, or from a new exchange.
    public func token(scope: String) async throws -> CachedToken {
        let current = now()
        switch states[scope] {
        case .cached(let entry) where current < entry.refreshAt:
            hits.increment()
            return entry
        case .cached(let entry) where current < entry.expiresAt:
            hits.increment()
            if canRetry(scope: scope, at: current) { _ = startRefresh(scope: scope, serving: entry) }
            return entry
        case .refreshing(_, let serving?) where current < serving.expiresAt:
            hits.increment()
            return serving
        case .refreshing(let task, _):
            misses.increment()
            return try await task.value
        case .cached, .none:
            misses.increment()
            return try await startRefresh(scope: scope, serving: nil).value
        }
    }

    /// Drops every cached token (the next caller exchanges again).
    public func invalidateAll() {
        leanAnswers.removeAll()
        for (scope, state) in states {
            if case .cached = state { states[scope] = nil }
        }
    }

    private func canRetry(scope: String, at instant: ContinuousClock.Instant) -> Bool {
        guard let failed = lastFailure[scope] else { return true }
        return failed.advanced(by: retryGap) <= instant
    }

    private func startRefresh(scope: String, serving: CachedToken?) -> Task<CachedToken, any Error> {
        let fetch = self.fetch
        let task = Task<CachedToken, any Error> {
            do {
                let fetched = try await fetch(scope)
                return self.store(fetched, scope: scope)
            } catch {
                self.failed(scope: scope, serving: serving)
                throw error
            }
        }
        states[scope] = .refreshing(task, serving: serving)
        return task
    }

    private func store(_ fetched: FetchedToken, scope: String) -> CachedToken {
        let lifetime = Duration.seconds(fetched.expiresIn)
        let margin = min(refreshMargin, lifetime / 2)
        let issued = now()
        // The IdP's `refresh_in` (Entra: half the lifetime of tokens over an hour), as MSAL honours it; else the margin.
        var refreshAfter = lifetime - margin
        if let refreshIn = fetched.refreshIn, refreshIn > 0, refreshIn < fetched.expiresIn {
            refreshAfter = .seconds(refreshIn)
        }
        let entry = CachedToken(
            token: fetched.accessToken, scope: scope,
            expiresAt: issued.advanced(by: lifetime), refreshAt: issued.advanced(by: refreshAfter),
            expiresAtDate: wallNow().addingTimeInterval(TimeInterval(fetched.expiresIn)))
        states[scope] = .cached(entry)
        lastFailure[scope] = nil
        return entry
    }

    private func failed(scope: String, serving: CachedToken?) {
        if let serving, now() < serving.expiresAt {
            states[scope] = .cached(serving)
            lastFailure[scope] = now()
            logger.warning("Token refresh failed; serving the cached token until it expires",
                           metadata: [LogKey.scope: .string(scope)])
        } else {
            states[scope] = nil
            lastFailure[scope] = nil
        }
    }
}
