import AuthProtocol
import Foundation
import JOSE
import Logging
import Synchronization
import Tracing

/// How the JWKS is kept fresh.
public struct KeySetCacheSettings: Sendable {
    /// Background refresh period (Entra rotates keys without notice: at least daily).
    public var refreshInterval: Duration
    /// At most one refresh for unknown `kid`s per this gap, so random kids cannot flood the IdP.
    public var minimumRefreshGap: Duration
    /// A fetch that takes longer fails with `keysUnavailable`.
    public var fetchTimeout: Duration
    /// What the caller calls the JWKS location, for the fix a failure names.
    public var jwkSetURISetting: String

    public init(refreshInterval: Duration = .seconds(86_400), minimumRefreshGap: Duration = .seconds(10),
                fetchTimeout: Duration = .seconds(5),
                jwkSetURISetting: String = TokenValidationSettingNames.described.jwkSetURI) {
        self.refreshInterval = refreshInterval
        self.minimumRefreshGap = minimumRefreshGap
        self.fetchTimeout = fetchTimeout
        self.jwkSetURISetting = jwkSetURISetting
    }
}

/// The state of the key set, for health checks.
public struct KeySetStatus: Sendable {
    public var keyCount: Int
    /// When the last refresh succeeded; nil before the first success.
    public var lastSuccess: Date?
    /// Why the last refresh failed; nil once a refresh succeeds.
    public var lastError: String?
    /// How many refreshes have failed since start (for `certauth_jwks_refresh_failures_total`).
    public var failures: Int = 0
}

/// The IdP's signing keys by `kid` (the JWKS), fetched through `fetch`. An unknown `kid` triggers one refresh
/// (single flight, rate-limited, time-bounded); keys are kept when a refresh fails; a refresh that yields no usable
/// key counts as failed. A caller that is cancelled while waiting never cancels the shared fetch.
///
/// The keys are also published behind a `Mutex` (a snapshot, replaced at each successful refresh), so that a known
/// kid is found without an actor hop: that is every token but the first of a new key.
public actor KeySetCache {
    public typealias Fetch = @Sendable () async throws -> [UInt8]

    private let settings: KeySetCacheSettings
    private let logger: Logger
    private let fetch: Fetch
    private let now: @Sendable () -> ContinuousClock.Instant
    private var keys: [String: JSONWebKey] = [:] {
        didSet { published.withLock { $0 = keys } }
    }
    /// `keys`, readable without the actor (the dictionary is shared, not copied, by each update).
    private let published = Mutex<[String: JSONWebKey]>([:])
    private var inFlight: Task<Result<Int, TokenValidationError>, Never>?
    /// When the last refresh for an unknown kid started (the rate limit's reference point).
    private var lastUnknownKeyRefresh: ContinuousClock.Instant?
    private var lastSuccess: Date?
    /// Why keys of the last good JWKS were skipped, by kid: a token naming one is told why.
    private var skipped: [String: String] = [:]
    private var loggedSkips: [String] = []
    private var lastError: String?
    private var failures = 0
    /// Told the kids that a refresh removed (the verified-token cache drops their tokens).
    private let removalObservers = Mutex<[@Sendable (Set<String>) -> Void]>([])

    /// - Parameters:
    ///   - fetch: returns the JWKS document (e.g. a GET of the JWK set URI). Its errors are reported by
    ///     description, so they should name what failed (URL, status) and never carry secrets.
    public init(settings: KeySetCacheSettings = .init(), logger: Logger,
                fetch: @escaping @Sendable () async throws -> [UInt8]) {
        self.init(settings: settings, logger: logger, now: { ContinuousClock.now }, fetch: fetch)
    }

    /// As above, with the clock for the refresh rate limit injected (tests).
    public init(settings: KeySetCacheSettings = .init(), logger: Logger,
                now: @escaping @Sendable () -> ContinuousClock.Instant,
                fetch: @escaping @Sendable () async throws -> [UInt8]) {
        self.settings = settings
        self.logger = logger
        self.now = now
        self.fetch = fetch
    }

    /// Calls `observer` with the kids each successful refresh removed (right after the new set is installed, before
    /// any caller sees the new set's answer).
    public nonisolated func onKeysRemoved(_ observer: @escaping @Sendable (Set<String>) -> Void) {
        removalObservers.withLock { $0.append(observer) }
    }

    /// The key for `kid` if it is loaded; nil otherwise (then `key(id:)` refreshes). Synchronous, no actor hop.
    nonisolated func loadedKey(id kid: String) -> JSONWebKey? {
        published.withLock { $0[kid] }
    }

    /// The key for `kid`; an unknown kid triggers one refresh (single flight, rate-limited by minimumRefreshGap,
    /// bounded by fetchTimeout). Keys are kept when a refresh fails.
    public func key(id kid: String) async throws(TokenValidationError) -> JSONWebKey {
        if let key = keys[kid] { return key }
        let outcome: Result<Int, TokenValidationError>
        if let inFlight {
            outcome = await inFlight.value
        } else {
            let current = now()
            if let last = lastUnknownKeyRefresh, current < last.advanced(by: settings.minimumRefreshGap) {
                if keys.isEmpty { throw unavailable() }
                if let reason = skipped[kid] { throw unusable(kid: kid, reason: reason) }
                throw TokenValidationError(
                    .unknownKeyID,
                    "token key id \(quoted(kid)) is not in the IdP's JWKS (refreshed for an unknown key id less than "
                        + "\(settings.minimumRefreshGap) ago, so not again yet); the token was signed by another issuer "
                        + "or tenant, or with a key the IdP has not published — check that \(settings.jwkSetURISetting) "
                        + "belongs to the token's issuer")
            }
            lastUnknownKeyRefresh = current
            logger.info("Unknown key id; refreshing the JWKS", metadata: [LogKey.jwtKeyID: .string(String(kid.prefix(200)))])
            outcome = await startRefresh().value
        }
        if let key = keys[kid] { return key }
        if case .failure(let error) = outcome { throw error }
        if let reason = skipped[kid] { throw unusable(kid: kid, reason: reason) }
        throw TokenValidationError(
            .unknownKeyID,
            "token key id \(quoted(kid)) is not in the IdP's JWKS, even after refreshing it; the token was signed by "
                + "another issuer or tenant, or with a key the IdP has not published — check that "
                + "\(settings.jwkSetURISetting) belongs to the token's issuer")
    }

    /// Fetch now (single flight with any refresh in progress); throws keysUnavailable with the reason on failure.
    public func refresh() async throws(TokenValidationError) {
        let task = inFlight ?? startRefresh()
        if case .failure(let error) = await task.value { throw error }
    }

    /// Runs until the task is cancelled: refreshes every refreshInterval (after a failure, retries sooner with a
    /// capped backoff, 5 s doubling to 5 min, never longer than refreshInterval). Call `refresh()` first yourself if
    /// you want keys at start; while no key is loaded, the first retry comes after the backoff, not the interval.
    public func runPeriodicRefresh() async {
        let firstRetry = min(Duration.seconds(5), settings.refreshInterval)
        let maximumRetry = min(Duration.seconds(300), settings.refreshInterval)
        var delay = keys.isEmpty ? firstRetry : settings.refreshInterval
        var retry = firstRetry
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            do {
                try await refresh()
                delay = settings.refreshInterval
                retry = firstRetry
            } catch {
                delay = retry
                retry = min(retry * 2, maximumRetry)
            }
        }
    }

    /// Key count, last success and last error, for health checks.
    public var status: KeySetStatus {
        KeySetStatus(keyCount: keys.count, lastSuccess: lastSuccess, lastError: lastError, failures: failures)
    }

    // MARK: - Refresh

    private func unusable(kid: String, reason: String) -> TokenValidationError {
        TokenValidationError(
            .unknownKeyID,
            "token key id \(quoted(kid)) is in the IdP's JWKS but that key cannot be used: \(reason) — configure the "
                + "IdP to sign access tokens with an RSA (2048 bits or more) or EC P-256 key")
    }

    private func unavailable() -> TokenValidationError {
        TokenValidationError(
            .keysUnavailable,
            "no signing keys are loaded yet" + (lastError.map { " (last refresh: \($0))" } ?? "")
                + "; check that \(settings.jwkSetURISetting) is reachable and serves the IdP's JWKS")
    }

    private func startRefresh() -> Task<Result<Int, TokenValidationError>, Never> {
        let fetch = self.fetch
        let timeout = settings.fetchTimeout
        let setting = settings.jwkSetURISetting
        let task = Task<Result<Int, TokenValidationError>, Never> {
            // A client span when traces are exported (child of the request that found a kid unknown, if one did).
            await withSpan("JWKS fetch", ofKind: .client) { span in
                let outcome = await Self.fetchAndParse(fetch: fetch, timeout: timeout, setting: setting)
                switch outcome {
                case .success(let parsed): span.attributes[LogKey.jwksKeyCount] = parsed.keys.count
                case .failure(let error):
                    span.setStatus(SpanStatus(code: .error, message: error.message))
                }
                return self.apply(outcome)
            }
        }
        inFlight = task
        return task
    }

    private func apply(_ outcome: Result<(keys: [JSONWebKey], skipped: [JSONWebKeySetParser.SkippedKey]), TokenValidationError>)
        -> Result<Int, TokenValidationError> {
        inFlight = nil
        switch outcome {
        case .success(let parsed):
            let skippedText = parsed.skipped.map(\.text)
            if skippedText != loggedSkips {
                // Once per change, not at every refresh (Keycloak always publishes an encryption key, for one).
                for line in skippedText {
                    logger.warning("JWKS key skipped", metadata: [LogKey.jwksReason: .string(line)])
                }
                loggedSkips = skippedText
            }
            skipped = [:]
            for key in parsed.skipped {
                if let kid = key.kid, skipped[kid] == nil { skipped[kid] = key.reason }
            }
            var fresh: [String: JSONWebKey] = [:]
            for key in parsed.keys { fresh[key.keyID] = key }
            let added = fresh.keys.filter { keys[$0] == nil }.sorted()
            let removed = keys.keys.filter { fresh[$0] == nil }.sorted()
            keys = fresh
            if !removed.isEmpty {
                let gone = Set(removed)
                for observer in removalObservers.withLock({ $0 }) { observer(gone) }
            }
            lastSuccess = Date()
            lastError = nil
            logger.info("JWKS refreshed", metadata: [
                LogKey.jwksKeyCount: .stringConvertible(fresh.count),
                LogKey.jwksAdded: .array(added.map { .string($0) }),
                LogKey.jwksRemoved: .array(removed.map { .string($0) }),
            ])
            return .success(fresh.count)
        case .failure(let error):
            lastError = error.message
            failures += 1
            let message: Logger.Message = keys.isEmpty
                ? "JWKS refresh failed; no keys loaded yet" : "JWKS refresh failed; keeping the keys already loaded"
            logger.warning(message, metadata: [
                LogKey.jwksKeyCount: .stringConvertible(keys.count), LogKey.jwksReason: .string(error.message),
            ])
            return .failure(error)
        }
    }

    /// Fetches with a deadline (a fetch that ignores cancellation cannot hold the caller past `timeout`) and parses,
    /// off the actor.
    @concurrent
    private static func fetchAndParse(fetch: @escaping Fetch, timeout: Duration, setting: String) async
        -> Result<(keys: [JSONWebKey], skipped: [JSONWebKeySetParser.SkippedKey]), TokenValidationError> {
        let fetched = await withDeadline(timeout, setting: setting, fetch)
        let data: [UInt8]
        switch fetched {
        case .success(let bytes): data = bytes
        case .failure(let error): return .failure(error)
        }
        do throws(TokenValidationError) {
            let parsed: (keys: [JSONWebKey], skipped: [JSONWebKeySetParser.SkippedKey])
            do {
                parsed = try JSONWebKeySetParser.parseDetailed(data)
            } catch {
                throw TokenValidationError(
                    .keysUnavailable,
                    "\(error.message); check that \(setting) points at the IdP's key set (Entra: "
                        + "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys)")
            }
            guard !parsed.keys.isEmpty else {
                let reasons = parsed.skipped.isEmpty ? "it lists no keys" : parsed.skipped.map(\.text).joined(separator: "; ")
                return .failure(TokenValidationError(
                    .keysUnavailable,
                    "the JWKS has no usable signing key (\(reasons)); the IdP must publish RSA (2048 bits or more) "
                        + "or EC P-256 signing keys with a kid"))
            }
            return .success(parsed)
        } catch {
            return .failure(error)
        }
    }

    /// Runs `operation` in its own task and returns its result, or a `keysUnavailable` timeout error after
    /// `timeout`, whichever comes first; the loser is cancelled, never awaited.
    private static func withDeadline(_ timeout: Duration, setting: String, _ operation: @escaping Fetch) async
        -> Result<[UInt8], TokenValidationError> {
        let slot = FirstResult()
        let work = Task {
            do {
                slot.offer(.success(try await operation()))
            } catch let error as TokenValidationError {
                slot.offer(.failure(error))
            } catch {
                slot.offer(.failure(TokenValidationError(
                    .keysUnavailable,
                    "fetching the JWKS failed: \(error); check that \(setting) is reachable and trusted")))
            }
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            slot.offer(.failure(TokenValidationError(
                .keysUnavailable,
                "fetching the JWKS took longer than \(timeout); check that \(setting) is reachable")))
        }
        let result = await withCheckedContinuation { slot.wait($0) }
        work.cancel()
        timer.cancel()
        return result
    }
}

/// The first result offered, handed to the one waiter (whether it starts waiting before or after the offer).
private final class FirstResult: Sendable {
    private struct State {
        var result: Result<[UInt8], TokenValidationError>?
        var waiter: CheckedContinuation<Result<[UInt8], TokenValidationError>, Never>?
        var delivered = false
    }

    private let state = Mutex(State())

    func offer(_ result: Result<[UInt8], TokenValidationError>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<[UInt8], TokenValidationError>, Never>? in
            guard state.result == nil, !state.delivered else { return nil }
            guard let waiter = state.waiter else {
                state.result = result
                return nil
            }
            state.waiter = nil
            state.delivered = true
            return waiter
        }
        waiter?.resume(returning: result)
    }

    func wait(_ continuation: CheckedContinuation<Result<[UInt8], TokenValidationError>, Never>) {
        let ready = state.withLock { state -> Result<[UInt8], TokenValidationError>? in
            guard let result = state.result else {
                state.waiter = continuation
                return nil
            }
            state.delivered = true
            return result
        }
        if let ready { continuation.resume(returning: ready) }
    }
}
