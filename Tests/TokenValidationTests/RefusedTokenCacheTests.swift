import AuthProtocol
import Foundation
import Testing

@testable import TokenValidation
import WireFormat

/// A token refused after its signature check is refused again from memory for 30 s (``RefusedTokenCache``): a retried
/// bad token, or authn's lean path declining a token that its route then checks, costs no second RSA verification.
@Suite struct RefusedTokenCacheTests {
    @Test func aRefusalIsRepeatedFromMemoryForThirtySeconds() async throws {
        let idp = try await Harness(verifiedCache: VerifiedTokenCache())
        let attacker = try IdPKey.rsa(idp.rsa.kid)
        let forged = try Fixture.token(Fixture.v2Claims(), key: attacker)
        let first = await idp.refusal(forged)
        #expect(first?.code == .invalidSignature)
        // The IdP now publishes the attacker's key under that kid (only so the test can tell a repeat from a check):
        // within 30 s the refusal is repeated without verifying, after that the token is checked again.
        try idp.endpoint.publish([attacker, idp.ec])
        try await idp.keys.refresh()
        #expect(await idp.refusal(forged, now: Fixture.now.addingTimeInterval(29)) == first)
        #expect(await idp.refusal(forged, now: Fixture.now.addingTimeInterval(31)) == nil)
    }

    @Test func refusalsTimeCanUndoAreNotKept() async throws {
        let idp = try await Harness(verifiedCache: VerifiedTokenCache())
        let early = try Fixture.token(Fixture.v2Claims(["nbf": .number(Fixture.nowSeconds + 600)]), key: idp.rsa)
        #expect(await idp.refusal(early)?.code == .notYetValid)
        #expect(await idp.refusal(early, now: Fixture.now.addingTimeInterval(601)) == nil)
        #expect(!RefusedTokenCache.keeps(.notYetValid) && !RefusedTokenCache.keeps(.keysUnavailable) && !RefusedTokenCache.keeps(.unknownKeyID))
    }

    @Test func theCacheIsBounded() {
        let cache = RefusedTokenCache(capacity: 2, lifetime: 30)
        let error = TokenValidationError(.invalidSignature, "bad")
        let keys = (0..<3).map { VerifiedTokenCache.key("token-\($0)") }
        for key in keys { cache.store(key: key, error, now: Fixture.now) }
        #expect(cache.lookup(key: keys[0], now: Fixture.now) == nil)
        #expect(cache.lookup(key: keys[1], now: Fixture.now) == error)
        #expect(cache.lookup(key: keys[2], now: Fixture.now) == error)
        #expect(cache.lookup(key: keys[2], now: Fixture.now.addingTimeInterval(30)) == nil)
    }
}
