import AuthProtocol
import EntraEmulator
import ServiceSupport
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
import TokenIssuer

/// A settable monotonic clock for the cache.
final class ManualTime: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let base = ContinuousClock.now
    func now() -> ContinuousClock.Instant { base.advanced(by: offset.withLock { $0 }) }
    func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
}

@Suite struct TokenCacheTests {
    let logger = CapturedLogs().logger("cache")

    @Test func oneFetchForManyConcurrentCallersAndCancelledCallerDoesNotCancelIt() async throws {
        let fetches = Atomic<Int>(0)
        let cache = TokenCache(logger: logger) { scope in
            fetches.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(200))
            return FetchedToken(accessToken: "t-\(scope)", expiresIn: 3600, scope: scope)
        }
        let cancelled = Task { try await cache.token(scope: "s") }
        try await Task.sleep(for: .milliseconds(20))
        cancelled.cancel()
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<100 { group.addTask { try await cache.token(scope: "s").token } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(tokens.allSatisfy { $0 == "t-s" })
        #expect(fetches.load(ordering: .relaxed) == 1)
    }

    @Test func refreshesAheadOfExpiryAndServesOldTokenWhileRefreshFails() async throws {
        let time = ManualTime()
        let fetches = Atomic<Int>(0)
        let failing = Atomic<Bool>(false)
        let cache = TokenCache(logger: logger, now: { time.now() }) { scope in
            let n = fetches.add(1, ordering: .relaxed).newValue
            if failing.load(ordering: .relaxed) { throw CancellationError() }
            return FetchedToken(accessToken: "t\(n)", expiresIn: 3600, scope: scope)
        }
        #expect(try await cache.token(scope: "s").token == "t1")
        time.advance(.seconds(3000))  // 10 minutes before expiry: no refresh yet (margin is 5 minutes)
        #expect(try await cache.token(scope: "s").token == "t1")
        #expect(fetches.load(ordering: .relaxed) == 1)
        failing.store(true, ordering: .relaxed)
        time.advance(.seconds(400))  // inside the refresh window; the refresh fails
        #expect(try await cache.token(scope: "s").token == "t1")
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await cache.token(scope: "s").token == "t1", "still valid: served while the refresh fails")
        failing.store(false, ordering: .relaxed)
        time.advance(.seconds(10))  // past the retry gap
        _ = try await cache.token(scope: "s")
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await cache.token(scope: "s").token.hasPrefix("t") && fetches.load(ordering: .relaxed) >= 3)
        #expect(try await cache.token(scope: "s").token != "t1")
    }

    @Test func failuresAreNeverCached() async throws {
        let fetches = Atomic<Int>(0)
        let cache = TokenCache(logger: logger) { scope in
            let n = fetches.add(1, ordering: .relaxed).newValue
            if n == 1 { throw CancellationError() }
            return FetchedToken(accessToken: "ok", expiresIn: 60, scope: scope)
        }
        do {
            _ = try await cache.token(scope: "s")
            Issue.record("the first fetch fails")
        } catch {}
        #expect(try await cache.token(scope: "s").token == "ok")
    }

    @Test func shortTokensRefreshAtHalfLife() async throws {
        let time = ManualTime()
        let fetches = Atomic<Int>(0)
        let cache = TokenCache(logger: logger, now: { time.now() }) { scope in
            let n = fetches.add(1, ordering: .relaxed).newValue
            return FetchedToken(accessToken: "t\(n)", expiresIn: 120, scope: scope)
        }
        _ = try await cache.token(scope: "s")
        time.advance(.seconds(59))
        _ = try await cache.token(scope: "s")
        #expect(fetches.load(ordering: .relaxed) == 1)
        time.advance(.seconds(2))
        _ = try await cache.token(scope: "s")
        try await Task.sleep(for: .milliseconds(50))
        #expect(fetches.load(ordering: .relaxed) == 2)
    }
}

@Suite struct RefreshInTests {
    /// Entra's `refresh_in` decides when the cache refreshes (here 1 hour into a 2-hour token, where the 5-minute margin
    /// alone would wait 1 h 55 min); a `refresh_in` not below the lifetime is ignored.
    @Test func cacheRefreshesAtTheIdPsRefreshIn() async throws {
        let time = ManualTime()
        let fetches = Atomic<Int>(0)
        let cache = TokenCache(logger: CapturedLogs().logger("cache"), now: { time.now() }) { scope in
            let n = fetches.add(1, ordering: .relaxed).newValue
            return FetchedToken(accessToken: "t\(n)", expiresIn: 7200, scope: scope, refreshIn: scope == "bogus" ? 9000 : 3600)
        }
        #expect(try await cache.token(scope: "s").token == "t1")
        time.advance(.seconds(3590))
        #expect(try await cache.token(scope: "s").token == "t1")
        #expect(fetches.load(ordering: .relaxed) == 1, "not before refresh_in")
        time.advance(.seconds(20))
        #expect(try await cache.token(scope: "s").token == "t1", "the valid token is served while the refresh runs")
        try await Task.sleep(for: .milliseconds(50))
        #expect(fetches.load(ordering: .relaxed) == 2, "refreshed at refresh_in")
        #expect(try await cache.token(scope: "s").token == "t2")

        _ = try await cache.token(scope: "bogus")
        let before = fetches.load(ordering: .relaxed)
        time.advance(.seconds(7200 - 301))
        _ = try await cache.token(scope: "bogus")
        #expect(fetches.load(ordering: .relaxed) == before, "a refresh_in beyond the lifetime falls back to the margin")
    }

    /// The emulator sends `refresh_in` (half the lifetime) for tokens over an hour, and none for shorter ones.
    @Test(arguments: [(7200, 3600), (3599, nil)] as [(Int, Int?)])
    func emulatorSendsRefreshInForLongTokens(lifetime: Int, refreshIn: Int?) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs, tokenLifetime: lifetime)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let port = await issuer.port.port()
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                    let assertion = try await post(client, "https://localhost:\(port)/v1/client-assertion")
                    let decoded = try JSONDecoder().decode(ClientAssertionResponse.self, from: assertion.body)
                    let answer = try await PEMCredentialLiveTests.exchange(decoded.clientAssertion, pki: pki, emulatorPort: emulatorPort)
                    let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
                    #expect(json["expires_in"] as? Int == lifetime)
                    #expect(json["refresh_in"] as? Int == refreshIn)
                    let token = try await post(client, "https://localhost:\(port)/v1/token")
                    #expect(token.status == 200)
                    #expect(logs.all.contains { $0.contains("Token issued by IdP") && $0.contains("\"oauth.refresh_in\":\"\(refreshIn ?? 0)\"") })
                }
            }
        }
    }
}
