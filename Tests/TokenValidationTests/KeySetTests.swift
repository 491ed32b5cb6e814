import AuthProtocol
import JOSE
import Crypto
import Foundation
import Keystore
import Logging
import TestSupport
import Testing
@testable import TokenValidation
import _CryptoExtras
import WireFormat

@Suite struct KeySetCacheTests {
    @Test func failedRefreshKeepsTheOldKeys() async throws {
        let idp = try await Harness()
        let token = try Fixture.token(Fixture.v2Claims(), key: idp.rsa)
        idp.endpoint.set(.fail)
        await #expect(throws: TokenValidationError.self) { try await idp.keys.refresh() }
        let status = await idp.keys.status
        #expect(status.keyCount == 2)
        #expect(status.lastSuccess != nil)
        #expect(status.lastError?.contains("503") == true)
        #expect(await idp.refusal(token) == nil)
        #expect(idp.logs.all.contains { $0.contains("JWKS refresh failed") })
    }

    @Test func noKeysBeforeTheFirstSuccess() async throws {
        let idp = try await Harness(preload: false)
        idp.endpoint.set(.fail)
        let error = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.rsa))
        #expect(error?.code == .keysUnavailable)
        #expect(error?.message.contains("503") == true)
        #expect(await idp.keys.status.keyCount == 0)
        // Once the IdP answers, an explicit refresh (not rate-limited) loads the keys and the token is accepted.
        idp.endpoint.set(.serve)
        try await idp.keys.refresh()
        #expect(await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.rsa)) == nil)
    }

    @Test func aKeySetWithNoUsableKeyIsAFailedRefresh() async throws {
        let endpoint = FakeJWKSEndpoint(document: Array(#"{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}"#.utf8))
        let keys = KeySetCache(logger: CapturedLogsLogger.make(), fetch: endpoint.fetch)
        do {
            try await keys.refresh()
            Issue.record("refresh should fail")
        } catch {
            #expect(error.code == .keysUnavailable)
            #expect(error.message.contains("no usable signing key"))
        }
    }

    @Test func aTokenNamingASkippedKeyIsToldWhy() async throws {
        let weak = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        let primitives = try weak.publicKey.getKeyPrimitives()
        let good = try IdPKey.rsa("good")
        let endpoint = FakeJWKSEndpoint(document: try jwksDocument([
            try good.jwk,
            .object(["kid": .string("weak"), "kty": .string("RSA"), "n": .string(Base64URL.encode(primitives.modulus)),
                     "e": .string(Base64URL.encode(primitives.publicExponent))]),
        ]))
        let logs = CapturedLogs()
        let keys = KeySetCache(logger: logs.logger("skips"), fetch: endpoint.fetch)
        try await keys.refresh()
        try await keys.refresh()
        #expect(logs.all.filter { $0.contains("JWKS key skipped") }.count == 1, "skipped keys are logged once per change")
        do throws(TokenValidationError) {
            _ = try await keys.key(id: "weak")
            Issue.record("a 1024-bit key must not be usable")
        } catch {
            #expect(error.code == .unknownKeyID)
            #expect(error.message.contains("cannot be used"))
            #expect(error.message.contains("1024 bits"))
        }
    }

    @Test func keyRotationAcceptsTheNewKidAfterOneRefresh() async throws {
        let idp = try await Harness()
        #expect(await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.rsa)) == nil)
        let rotated = try IdPKey.rsa("rsa-key-2")
        try idp.endpoint.publish([rotated, idp.ec])
        let fetches = idp.endpoint.fetches
        let validated = try await idp.validator.validate(try Fixture.token(Fixture.v2Claims(), key: rotated), now: Fixture.now)
        #expect(validated.keyID == "rsa-key-2")
        #expect(idp.endpoint.fetches == fetches + 1)
        // The retired key is gone after the refresh.
        let retired = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.rsa))
        #expect(retired?.code == .unknownKeyID)
        #expect(idp.logs.all.contains { $0.contains("rsa-key-2") })
    }

    @Test func concurrentValidationsWithAnUnknownKidShareOneFetch() async throws {
        let idp = try await Harness()
        let rotated = try IdPKey.rsa("rsa-key-2")
        try idp.endpoint.publish([idp.rsa, rotated])
        let fetches = idp.endpoint.fetches
        let token = try Fixture.token(Fixture.v2Claims(), key: rotated)
        let validator = idp.validator
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 {
                group.addTask { (try? await validator.validate(token, now: Fixture.now)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 50)
        #expect(idp.endpoint.fetches == fetches + 1)
    }

    @Test func concurrentUnknownKidsShareOneFetch() async throws {
        let idp = try await Harness()
        let fetches = idp.endpoint.fetches
        let keys = idp.keys
        let codes = await withTaskGroup(of: TokenValidationError.Code?.self) { group in
            for index in 0..<50 {
                group.addTask {
                    do throws(TokenValidationError) {
                        _ = try await keys.key(id: "random-\(index)")
                        return nil
                    } catch {
                        return error.code
                    }
                }
            }
            return await group.reduce(into: [TokenValidationError.Code?]()) { $0.append($1) }
        }
        #expect(codes.allSatisfy { $0 == .unknownKeyID })
        #expect(idp.endpoint.fetches == fetches + 1)
    }

    @Test func aHangingFetchEndsInKeysUnavailableAfterTheTimeout() async throws {
        let endpoint = try FakeJWKSEndpoint([try IdPKey.rsa("k")])
        endpoint.set(.hang)
        let keys = KeySetCache(settings: .init(fetchTimeout: .milliseconds(200)), logger: CapturedLogsLogger.make(),
                               fetch: endpoint.fetch)
        let outcomes = await withTaskGroup(of: TokenValidationError.Code?.self) { group in
            group.addTask {
                do throws(TokenValidationError) { try await keys.refresh(); return nil } catch { return error.code }
            }
            group.addTask {
                do throws(TokenValidationError) { _ = try await keys.key(id: "k"); return nil } catch { return error.code }
            }
            return await group.reduce(into: [TokenValidationError.Code?]()) { $0.append($1) }
        }
        #expect(outcomes == [.keysUnavailable, .keysUnavailable])
        #expect(endpoint.fetches == 1)
        #expect(await keys.status.lastError?.contains("longer than") == true)
        endpoint.releaseHung()
        // The cache recovers once the IdP answers.
        endpoint.set(.serve)
        try await keys.refresh()
        #expect(await keys.status.keyCount == 1)
    }

    @Test func periodicRefreshRunsUntilCancelled() async throws {
        let endpoint = try FakeJWKSEndpoint([try IdPKey.rsa("k")])
        let keys = KeySetCache(settings: .init(refreshInterval: .milliseconds(20)), logger: CapturedLogsLogger.make(),
                               fetch: endpoint.fetch)
        try await keys.refresh()
        let runner = Task { await keys.runPeriodicRefresh() }
        for _ in 0..<500 where endpoint.fetches < 4 {
            try await Task.sleep(for: .milliseconds(20))
        }
        runner.cancel()
        await runner.value
        #expect(endpoint.fetches >= 4)
        let settled = endpoint.fetches
        try await Task.sleep(for: .milliseconds(100))
        #expect(endpoint.fetches == settled, "no refresh after cancellation")
    }

    @Test func periodicRefreshKeepsRetryingAfterFailures() async throws {
        let endpoint = try FakeJWKSEndpoint([try IdPKey.rsa("k")])
        endpoint.set(.fail)
        let keys = KeySetCache(settings: .init(refreshInterval: .milliseconds(20)), logger: CapturedLogsLogger.make(),
                               fetch: endpoint.fetch)
        let runner = Task { await keys.runPeriodicRefresh() }
        for _ in 0..<500 where endpoint.fetches < 3 {
            try await Task.sleep(for: .milliseconds(20))
        }
        endpoint.set(.serve)
        for _ in 0..<500 where await keys.status.keyCount == 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        runner.cancel()
        await runner.value
        #expect(await keys.status.keyCount == 1)
        #expect(await keys.status.lastError == nil)
    }
}

enum CapturedLogsLogger {
    static func make() -> Logger { CapturedLogs().logger("key-set-test") }
}

@Suite struct VerifiedTokenCacheTests {
    @Test func aCachedTokenCostsNoKeyLookupOrSignatureCheck() async throws {
        let cache = VerifiedTokenCache()
        let idp = try await Harness(verifiedCache: cache)
        let token = try Fixture.token(Fixture.v2Claims(), key: idp.rsa)
        let first = try await idp.validator.validate(token, now: Fixture.now)
        #expect(cache.count == 1)
        // A validator sharing the cache but with no keys at all (and an IdP that fails) still answers: from the cache.
        let empty = FakeJWKSEndpoint(document: [])
        empty.set(.fail)
        let noKeys = KeySetCache(logger: CapturedLogsLogger.make(), fetch: empty.fetch)
        let cachedOnly = TokenValidator(settings: Fixture.settings, keys: noKeys, cache: cache)
        let second = try await cachedOnly.validate(token, now: Fixture.now.addingTimeInterval(60))
        #expect(empty.fetches == 0)
        #expect(second.tokenID == first.tokenID)
        #expect(second.roles == first.roles)
    }

    @Test func anExpiredCachedTokenIsRefused() async throws {
        let cache = VerifiedTokenCache()
        let idp = try await Harness(verifiedCache: cache)
        let token = try Fixture.token(Fixture.v2Claims(["exp": .number(Fixture.nowSeconds + 100)]), key: idp.rsa)
        _ = try await idp.validator.validate(token, now: Fixture.now)
        #expect(cache.lookup(token, now: Fixture.now.addingTimeInterval(99)) != nil)
        #expect(cache.lookup(token, now: Fixture.now.addingTimeInterval(100)) == nil)
        let error = await idp.refusal(token, now: Fixture.now.addingTimeInterval(200))
        #expect(error?.code == .expired)
        #expect(cache.count == 0)
    }

    @Test func capacityIsRespectedOldestFirst() async throws {
        let cache = VerifiedTokenCache(capacity: 3)
        let idp = try await Harness(verifiedCache: cache)
        var tokens: [String] = []
        for index in 0..<5 {
            let token = try Fixture.token(Fixture.v2Claims(["jti": .string("t\(index)")]), key: idp.rsa)
            tokens.append(token)
            _ = try await idp.validator.validate(token, now: Fixture.now)
            #expect(cache.count <= 3)
        }
        #expect(cache.count == 3)
        #expect(cache.lookup(tokens[0], now: Fixture.now) == nil)
        #expect(cache.lookup(tokens[1], now: Fixture.now) == nil)
        #expect(cache.lookup(tokens[4], now: Fixture.now)?.tokenID == "t4")
    }

    @Test func manyInsertionsStayBounded() async throws {
        let cache = VerifiedTokenCache(capacity: 10)
        let idp = try await Harness()
        let validated = try await idp.validator.validate(try Fixture.token(Fixture.v2Claims(), key: idp.rsa), now: Fixture.now)
        for index in 0..<1_000 {
            cache.store("token-\(index)", validated)
        }
        #expect(cache.count == 10)
        #expect(cache.lookup("token-999", now: Fixture.now) != nil)
        #expect(cache.lookup("token-989", now: Fixture.now) == nil)
    }
}

@Suite struct KeySetDocumentTests {
    /// A document that is not a JWKS: the parser's reason (JOSE), and where to look (the setting).
    @Test func notAJWKSNamesTheSetting() async throws {
        let keys = KeySetCache(settings: .init(jwkSetURISetting: "TEST_JWKS_URI"), logger: Logger(label: "test"), fetch: { Array("{}".utf8) })
        let error = await #expect(throws: TokenValidationError.self) { try await keys.refresh() }
        #expect(error?.code == .keysUnavailable)
        #expect(error?.message.hasPrefix("the JWKS document is not a JSON object with a 'keys' array; check that TEST_JWKS_URI") == true)
    }
}
