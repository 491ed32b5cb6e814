import AuthProtocol
import JOSE
import Foundation
import TestSupport
import Testing
import TokenValidation
import WireFormat

/// Issue 15, item 6: a key that left the JWKS, absurd lifetimes, `typ`, ID tokens, multi-tenant issuers.
@Suite struct TokenHardeningTests {
    // MARK: - A cached token whose key left the JWKS

    @Test func aCachedTokenIsRefusedOnceItsKeyLeftTheJWKS() async throws {
        let cache = VerifiedTokenCache()
        let idp = try await Harness(verifiedCache: cache)
        let old = try Fixture.token(Fixture.v2Claims(), key: idp.rsa)
        let kept = try Fixture.token(Fixture.v2Claims(), key: idp.ec)
        #expect(await idp.refusal(old) == nil)
        #expect(await idp.refusal(kept) == nil)
        #expect(cache.count == 2)

        // The IdP rotates the RSA key out; one refresh later its tokens are refused, cached or not.
        try idp.endpoint.publish([idp.ec])
        try await idp.keys.refresh()
        #expect(cache.count == 1, "the verdict of the removed key is dropped, the other one kept")
        let refusal = await idp.refusal(old)
        #expect(refusal?.code == .unknownKeyID, "\(String(describing: refusal))")
        #expect(await idp.refusal(kept) == nil)
    }

    // MARK: - Lifetime

    @Test func tokensLivingLongerThanTheMaximumAreRefusedWithAReason() async throws {
        let idp = try await Harness()
        let now = Fixture.nowSeconds
        let cases: [(String, [String: JSONValue?])] = [
            ("exp 25 h from now", ["exp": .number(now + 25 * 3600)]),
            ("exp = 1e300", ["exp": .number(1e300)]),
            ("exp = max Double", ["exp": .number(Double.greatestFiniteMagnitude)]),
            ("30 days from iat to exp", ["iat": .number(now - 30 * 86_400), "nbf": nil, "exp": .number(now + 3600)]),
        ]
        for (name, changes) in cases {
            let token = try Fixture.token(Fixture.v2Claims(changes), key: idp.rsa)
            let refusal = await idp.refusal(token)
            #expect(refusal?.code == .lifetimeTooLong, "\(name): \(String(describing: refusal))")
            #expect(refusal?.message.contains("maximum token lifetime of 86400 s") == true, "\(name): \(refusal?.message ?? "")")
        }
        // Just under the maximum is fine.
        #expect(await idp.refusal(try Fixture.token(Fixture.v2Claims(["iat": .number(now), "exp": .number(now + 86_000)]), key: idp.rsa)) == nil)

        // Numbers JSON can spell but a Double cannot hold are refused, never a crash.
        for exp in ["1e400", "-1e400", "123456789012345678901234567890123456789012345678901234567890e300"] {
            let payload = try Fixture.json(Fixture.v2Claims(["exp": nil])).dropLast() + #","exp":\#(exp)}"#
            let token = try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","typ":"JWT"}"#, payload: String(payload), key: idp.rsa)
            let refusal = await idp.refusal(token)
            #expect(refusal?.code == .missingExpiry || refusal?.code == .malformed, "exp \(exp): \(String(describing: refusal))")
        }
    }

    @Test func theMaximumLifetimeIsASetting() async throws {
        var settings = Fixture.settings
        settings.maxTokenLifetime = .seconds(1800)
        let idp = try await Harness(settings: settings)
        let refusal = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.rsa))
        #expect(refusal?.code == .lifetimeTooLong)
        #expect(refusal?.message.contains("1800 s") == true)
        let short = Fixture.v2Claims(["iat": .number(Fixture.nowSeconds), "exp": .number(Fixture.nowSeconds + 1200)])
        #expect(await idp.refusal(try Fixture.token(short, key: idp.rsa)) == nil)
    }

    // MARK: - typ and ID tokens

    @Test func theTypHeaderIsCheckedWhenPresent() async throws {
        let idp = try await Harness()
        let payload = try Fixture.json(Fixture.v2Claims())
        for typ in ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "application/jwt"] {
            let token = try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","typ":"\#(typ)"}"#, payload: payload, key: idp.rsa)
            #expect(await idp.refusal(token) == nil, "typ \(typ)")
        }
        let untyped = try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1"}"#, payload: payload, key: idp.rsa)
        #expect(await idp.refusal(untyped) == nil)
        for typ in [#""id_token+jwt""#, #""logout+jwt""#, #""JOSE""#, #""secevent+jwt""#, "7"] {
            let token = try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","typ":\#(typ)}"#, payload: payload, key: idp.rsa)
            let refusal = await idp.refusal(token)
            #expect(refusal?.code == .wrongTokenType, "typ \(typ): \(String(describing: refusal))")
            #expect(refusal?.message.contains("not an access token") == true)
        }
    }

    @Test func idTokensAreRefusedByTheirShapeWhateverTheirAudience() async throws {
        let idp = try await Harness()
        let cases: [(String, [String: JSONValue?])] = [
            ("nonce", ["nonce": .string("n-0S6_WzA2Mj")]),
            ("at_hash", ["at_hash": .string("77QmUPtjPfzWtF2AnpK9RQ")]),
            ("c_hash", ["c_hash": .string("LDktKdoQak3Pk0cnXxCltA")]),
            ("Keycloak typ ID", ["typ": .string("ID")]),
        ]
        for (name, changes) in cases {
            let refusal = await idp.refusal(try Fixture.token(Fixture.v2Claims(changes), key: idp.rsa))
            #expect(refusal?.code == .wrongTokenType, "\(name): \(String(describing: refusal))")
            #expect(refusal?.message.contains("an ID token is not an access token") == true, "\(name)")
        }
        // Keycloak access tokens say typ "Bearer" (and older Keycloak copied the login's nonce into them).
        let keycloak = Fixture.v2Claims(["typ": .string("Bearer"), "nonce": .string("abc")])
        #expect(await idp.refusal(try Fixture.token(keycloak, key: idp.rsa)) == nil)
    }

    // MARK: - Multi-tenant issuers

    static let otherTenant = "0b4d7f4e-90b5-4a7e-8a9d-2f7c8f3f6b11"
    static let thirdTenant = "c3c0c7a4-5a41-4d55-9a80-7e3fbcdd2a77"

    @Test func multiTenantIssuersAcceptOnlyTheAllowedTenants() async throws {
        let template = "https://login.microsoftonline.com/organizations/v2.0"
        let tenants = [Fixture.tenant, Self.otherTenant]
        let issuers = TokenValidationSettings.multiTenantIssuers(template: template, tenants: tenants, microsoft: true)
        #expect(issuers.contains("https://login.microsoftonline.com/\(Self.otherTenant)/v2.0"))
        #expect(issuers.contains("https://sts.windows.net/\(Self.otherTenant)/"))
        #expect(!issuers.contains(template))
        let settings = TokenValidationSettings(
            issuers: issuers, audiences: Fixture.settings.audiences, allowedTenants: tenants)
        let idp = try await Harness(settings: settings)

        #expect(await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.rsa)) == nil)
        #expect(await idp.refusal(try Fixture.token(Fixture.v1Claims(), key: idp.rsa)) == nil)
        let other = Fixture.v2Claims([
            "tid": .string(Self.otherTenant), "iss": .string("https://login.microsoftonline.com/\(Self.otherTenant)/v2.0"),
        ])
        #expect(await idp.refusal(try Fixture.token(other, key: idp.rsa)) == nil)

        let refused: [(String, [String: JSONValue?], TokenValidationError.Code)] = [
            ("tenant not allowed", [
                "tid": .string(Self.thirdTenant), "iss": .string("https://login.microsoftonline.com/\(Self.thirdTenant)/v2.0"),
            ], .invalidIssuer),
            ("tid not allowed under an allowed iss", ["tid": .string(Self.thirdTenant)], .invalidTenant),
            ("tid of the other allowed tenant", ["tid": .string(Self.otherTenant)], .invalidTenant),
            ("no tid", ["tid": nil], .invalidTenant),
            ("the template itself as iss", ["iss": .string("https://login.microsoftonline.com/{tenantid}/v2.0")], .invalidIssuer),
        ]
        for (name, changes, code) in refused {
            let refusal = await idp.refusal(try Fixture.token(Fixture.v2Claims(changes), key: idp.rsa))
            #expect(refusal?.code == code, "\(name): \(String(describing: refusal))")
        }
    }

    @Test func tenantPlaceholdersAreFoundAndReplaced() {
        #expect(TokenValidationSettings.tenantPlaceholder(in: "https://login.microsoftonline.com/common/v2.0") == "common")
        #expect(TokenValidationSettings.tenantPlaceholder(in: "https://login.microsoftonline.com/Organizations/v2.0") == "organizations")
        #expect(TokenValidationSettings.tenantPlaceholder(in: "https://login.microsoftonline.com/{tenantid}/v2.0") == "{tenantid}")
        #expect(TokenValidationSettings.tenantPlaceholder(in: Fixture.issuerV2) == nil)
        #expect(TokenValidationSettings.substituting("t1", into: "https://localhost:9443/{tenantid}/v2.0") == "https://localhost:9443/t1/v2.0")
        #expect(TokenValidationSettings.substituting("t1", into: "https://login.microsoftonline.com/common/v2.0")
            == "https://login.microsoftonline.com/t1/v2.0")
    }
}
