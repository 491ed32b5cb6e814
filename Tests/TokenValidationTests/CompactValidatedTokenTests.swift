import AuthProtocol
import JOSE
import Foundation
import Testing
import TokenValidation
import WireFormat

/// `ValidatedToken` keeps the payload, not a dictionary (authn's verified-token cache holds 10,000 of them), and
/// `VerifiedTokenCache` boxes its entries in a ring: what callers see must not change.
@Suite struct CompactValidatedTokenTests {
    @Test func claimsAreReadFromThePayloadAndCanBeReplaced() async throws {
        let idp = try await Harness()
        let claims = Fixture.v2Claims([
            "name": .string("Ren\u{e9}e \u{1F600}"), "cnf": .object(["x5t#S256": .string("thumb")]), "pi": .number(3.25),
        ])
        var validated = try await idp.validator.validate(try Fixture.token(claims, key: idp.rsa), now: Fixture.now)
        #expect(validated.claims == claims)
        #expect(validated.claims == claims, "a second read gives the same claims")
        #expect(validated.confirmationThumbprint == "thumb")
        let copy = validated
        validated.claims = ["only": .bool(true)]
        #expect(validated.claims == ["only": .bool(true)])
        #expect(copy.claims == claims, "a copy keeps its own claims")
        let built = ValidatedToken(
            claims: ["a": .null], issuer: "i", subject: nil, audiences: [], clientID: nil, tenantID: nil, tokenID: nil,
            keyID: "k", algorithm: .rs256, expiresAt: Fixture.now, notBefore: nil, roles: [], scopes: [],
            confirmationThumbprint: nil)
        #expect(built.claims == ["a": .null])
    }

    @Test func rolesAndScopesAreDeduplicatedInOrderPastTheLinearSearch() async throws {
        let idp = try await Harness()
        let many = (0..<40).map { JSONValue.string("role-\($0 % 25)") }
        let claims = Fixture.v2Claims(["roles": .array(many + [.number(1), .string("")]), "scp": .string(" b a  b c ")])
        let validated = try await idp.validator.validate(try Fixture.token(claims, key: idp.rsa), now: Fixture.now)
        #expect(validated.roles == (0..<25).map { "role-\($0)" })
        #expect(validated.scopes == ["b", "a", "c"])
    }

    @Test func cacheEvictsTheOldestEvenAfterAnUpdate() async throws {
        let cache = VerifiedTokenCache(capacity: 3)
        let idp = try await Harness()
        let validated = try await idp.validator.validate(try Fixture.token(Fixture.v2Claims(), key: idp.rsa), now: Fixture.now)
        for name in ["t0", "t1", "t2", "t1", "t3"] { cache.store(name, validated) }
        #expect(cache.count == 3)
        #expect(cache.lookup("t0", now: Fixture.now) == nil)
        for name in ["t1", "t2", "t3"] { #expect(cache.lookup(name, now: Fixture.now) != nil, "\(name)") }
        cache.store("t4", validated)
        #expect(cache.lookup("t1", now: Fixture.now) == nil)
        #expect(cache.lookup("t4", now: Fixture.now)?.claims == validated.claims)
    }
}
