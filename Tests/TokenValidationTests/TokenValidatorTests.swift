import AuthProtocol
import JOSE
import Crypto
import Foundation
import Keystore
import TestSupport
import Testing
import TokenValidation
import _CryptoExtras
import WireFormat

@Suite struct BadTokenTests {
    /// One refused token: what it is, the token, the code it must be refused with.
    struct Case {
        var name: String
        var token: String
        var code: TokenValidationError.Code
    }

    @Test func everyBadTokenIsRefusedWithItsCode() async throws {
        let idp = try await Harness()
        let fetchesAtStart = idp.endpoint.fetches
        let attacker = try IdPKey.rsa("attacker")
        let claims = Fixture.v2Claims()
        let payload = try Fixture.json(claims)
        let rsaPublicPEM: String
        guard case .rsa(let rsaPrivate) = idp.rsa.key else { throw JWSError("fixture RSA key expected") }
        rsaPublicPEM = rsaPrivate.publicKey.pemRepresentation

        // HS256 with the RSA public key as the HMAC secret (the classic key-confusion attack).
        let hsHeader = #"{"alg":"HS256","kid":"rsa-key-1","typ":"JWT"}"#
        let hsInput = "\(Base64URL.encode(Array(hsHeader.utf8))).\(Base64URL.encode(Array(payload.utf8)))"
        let hmac = HMAC<SHA256>.authenticationCode(for: Array(hsInput.utf8), using: SymmetricKey(data: Array(rsaPublicPEM.utf8)))
        let hs256 = "\(hsInput).\(Base64URL.encode(Array(hmac)))"

        // A valid token whose signature bytes are altered.
        let good = try Fixture.token(claims, key: idp.rsa)
        let parts = good.split(separator: ".").map(String.init)
        var signature = try #require(Base64URL.decode(parts[2]))
        signature[10] ^= 0x01
        let badSignature = "\(parts[0]).\(parts[1]).\(Base64URL.encode(signature))"

        // The attacker's public key embedded in the header (jwk), and a jku pointing elsewhere: neither is ever used.
        let attackerJWK = String(decoding: try JSONEncoder().encode(try attacker.jwk), as: UTF8.self)
        let oversizedClaims = Fixture.v2Claims(["padding": .string(String(repeating: "x", count: 17 * 1024))])

        let cases: [Case] = [
            Case(name: "alg none", token: try Fixture.handToken(header: #"{"alg":"none","kid":"rsa-key-1"}"#, payload: payload, signature: []), code: .unsupportedAlgorithm),
            Case(name: "alg none with a signature", token: try Fixture.handToken(header: #"{"alg":"none","kid":"rsa-key-1"}"#, payload: payload), code: .unsupportedAlgorithm),
            Case(name: "HS256 signed with the RSA public key", token: hs256, code: .unsupportedAlgorithm),
            Case(name: "RS512 (not allowed)", token: try Fixture.handToken(header: #"{"alg":"RS512","kid":"rsa-key-1"}"#, payload: payload, key: idp.rsa), code: .unsupportedAlgorithm),
            Case(name: "RS256 signature labelled PS256", token: try Fixture.handToken(header: #"{"alg":"PS256","kid":"rsa-key-1"}"#, payload: payload, key: idp.rsa, algorithm: .rs256), code: .invalidSignature),
            Case(name: "ES256 header on an RSA kid", token: try Fixture.token(claims, key: IdPKey(kid: idp.rsa.kid, key: idp.ec.key)), code: .algorithmKeyMismatch),
            Case(name: "RS256 header on an EC kid", token: try Fixture.token(claims, key: IdPKey(kid: idp.ec.kid, key: idp.rsa.key)), code: .algorithmKeyMismatch),
            Case(name: "missing kid", token: try Fixture.token(claims, key: idp.rsa, kid: .some(nil)), code: .missingKeyID),
            Case(name: "bad signature", token: badSignature, code: .invalidSignature),
            Case(name: "signed by another key under a known kid", token: try Fixture.token(claims, key: IdPKey(kid: idp.rsa.kid, key: attacker.key)), code: .invalidSignature),
            Case(name: "wrong iss", token: try Fixture.token(Fixture.v2Claims(["iss": .string("https://login.microsoftonline.com/other-tenant/v2.0")]), key: idp.rsa), code: .invalidIssuer),
            Case(name: "no iss", token: try Fixture.token(Fixture.v2Claims(["iss": nil]), key: idp.rsa), code: .invalidIssuer),
            Case(name: "wrong aud", token: try Fixture.token(Fixture.v2Claims(["aud": .string("api://x")]), key: idp.rsa), code: .invalidAudience),
            Case(name: "wrong aud array", token: try Fixture.token(Fixture.v2Claims(["aud": .array([.string("a"), .string("b")])]), key: idp.rsa), code: .invalidAudience),
            Case(name: "no aud", token: try Fixture.token(Fixture.v2Claims(["aud": nil]), key: idp.rsa), code: .invalidAudience),
            Case(name: "expired beyond leeway", token: try Fixture.token(Fixture.v2Claims(["exp": .number(Fixture.nowSeconds - 61)]), key: idp.rsa), code: .expired),
            Case(name: "nbf in the future", token: try Fixture.token(Fixture.v2Claims(["nbf": .number(Fixture.nowSeconds + 120)]), key: idp.rsa), code: .notYetValid),
            Case(name: "iat in the future", token: try Fixture.token(Fixture.v2Claims(["iat": .number(Fixture.nowSeconds + 120)]), key: idp.rsa), code: .notYetValid),
            Case(name: "nbf as a string", token: try Fixture.token(Fixture.v2Claims(["nbf": .string("soon")]), key: idp.rsa), code: .malformed),
            Case(name: "missing exp", token: try Fixture.token(Fixture.v2Claims(["exp": nil]), key: idp.rsa), code: .missingExpiry),
            Case(name: "exp as a string", token: try Fixture.token(Fixture.v2Claims(["exp": .string("\(Int(Fixture.nowSeconds + 3600))")]), key: idp.rsa), code: .missingExpiry),
            Case(name: "crit header", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","crit":["exp"],"exp":1}"#, payload: payload, key: idp.rsa), code: .criticalHeader),
            Case(name: "jwk header with the attacker's key, known kid", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","jwk":\#(attackerJWK)}"#, payload: payload, key: attacker), code: .invalidSignature),
            Case(name: "jwk header with the attacker's key, no kid", token: try Fixture.handToken(header: #"{"alg":"RS256","jwk":\#(attackerJWK)}"#, payload: payload, key: attacker), code: .missingKeyID),
            Case(name: "jku header pointing elsewhere", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","jku":"https://evil.example/keys"}"#, payload: payload, key: attacker), code: .invalidSignature),
            Case(name: "x5u and x5c headers", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1","x5u":"https://evil.example/cert","x5c":["MIIB"]}"#, payload: payload, key: attacker), code: .invalidSignature),
            Case(name: "oversized token", token: try Fixture.token(oversizedClaims, key: idp.rsa), code: .tooLarge),
            Case(name: "oversized garbage", token: String(repeating: "A", count: 20_000), code: .tooLarge),
            Case(name: "empty", token: "", code: .malformed),
            Case(name: "one part", token: "garbage", code: .malformed),
            Case(name: "two parts", token: "eyJhbGciOiJSUzI1NiJ9.e30", code: .malformed),
            Case(name: "four parts", token: good + ".x", code: .malformed),
            Case(name: "not base64url", token: "!!!.e30.c2ln", code: .malformed),
            Case(name: "standard base64 alphabet", token: "eyJhbGciOiJSUzI1NiJ9.e30.c2l+", code: .malformed),
            Case(name: "padding", token: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=", code: .malformed),
            Case(name: "empty signature", token: "\(parts[0]).\(parts[1]).", code: .malformed),
            Case(name: "header not JSON", token: "\(Base64URL.encode(Array("hello".utf8))).\(parts[1]).\(parts[2])", code: .malformed),
            Case(name: "header without alg", token: try Fixture.handToken(header: #"{"kid":"rsa-key-1"}"#, payload: payload, key: idp.rsa), code: .malformed),
            Case(name: "kid not a string", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":5}"#, payload: payload, key: idp.rsa), code: .malformed),
            Case(name: "payload not JSON", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1"}"#, payload: "not json", key: idp.rsa), code: .malformed),
            Case(name: "payload a JSON array", token: try Fixture.handToken(header: #"{"alg":"RS256","kid":"rsa-key-1"}"#, payload: "[1,2]", key: idp.rsa), code: .malformed),
        ]
        for testCase in cases {
            let error = await idp.refusal(testCase.token)
            #expect(error?.code == testCase.code, "\(testCase.name): \(error?.message ?? "accepted")")
            if let error {
                #expect(!error.message.isEmpty)
                for part in testCase.token.split(separator: ".") where part.count >= 8 {
                    #expect(!error.message.contains(part), "\(testCase.name): message echoes part of the token")
                }
            }
        }
        // Nothing a header named (jku, x5u, jwk) was fetched: every kid above was known, so no refresh at all.
        #expect(idp.endpoint.fetches == fetchesAtStart)
        for line in idp.logs.all {
            for testCase in cases { #expect(!line.contains(testCase.token)) }
        }
    }

    @Test func messagesNameCauseAndFix() async throws {
        let idp = try await Harness()
        let payload = try Fixture.json(Fixture.v2Claims())
        let hs = await idp.refusal(try Fixture.handToken(header: #"{"alg":"HS256","kid":"rsa-key-1"}"#, payload: payload))
        #expect(hs?.message.contains("HMAC") == true && hs?.message.contains("never accepted") == true)
        let none = await idp.refusal(try Fixture.handToken(header: #"{"alg":"none","kid":"rsa-key-1"}"#, payload: payload))
        #expect(none?.message.contains("unsigned") == true)
        let aud = await idp.refusal(try Fixture.token(Fixture.v2Claims(["aud": .string("api://x")]), key: idp.rsa))
        #expect(aud?.message.contains("'api://x'") == true)
        #expect(aud?.message.contains("set TEST_AUDIENCE to") == true)
        #expect(aud?.message.contains(Fixture.api) == true)
        let iss = await idp.refusal(try Fixture.token(Fixture.v2Claims(["iss": .string("https://evil.example/")]), key: idp.rsa))
        #expect(iss?.message.contains("'https://evil.example/'") == true)
        #expect(iss?.message.contains("set TEST_ISSUER to") == true)
        #expect(iss?.message.contains("when TEST_IDP_TYPE is MICROSOFT") == true)
        let expired = await idp.refusal(try Fixture.token(Fixture.v2Claims(["exp": .number(Fixture.nowSeconds - 3600)]), key: idp.rsa))
        #expect(expired?.message.contains("2025-06-15T15:26:40Z") == true)
        #expect(expired?.message.contains("3600 s ago") == true)
    }

    @Test func absurdTimesAreRefusedWithoutTrapping() async throws {
        let idp = try await Harness()
        let past = await idp.refusal(try Fixture.token(Fixture.v2Claims(["exp": .number(-1e300)]), key: idp.rsa))
        #expect(past?.code == .expired)
        let future = await idp.refusal(try Fixture.token(Fixture.v2Claims(["nbf": .number(1e300)]), key: idp.rsa))
        #expect(future?.code == .notYetValid)
    }

    @Test func unknownKidRefreshesOnceThenIsRateLimited() async throws {
        // A manual clock: on a loaded machine the real one once passed the gap between the two tokens (3 fetches).
        let clock = ManualInstant()
        let idp = try await Harness(cacheSettings: .init(minimumRefreshGap: .seconds(10)), now: clock.now)
        #expect(idp.endpoint.fetches == 1)
        let stranger = try IdPKey.rsa("not-published")
        let first = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: stranger))
        #expect(first?.code == .unknownKeyID)
        #expect(first?.message.contains("'not-published'") == true)
        #expect(first?.message.contains("refresh") == true)
        #expect(idp.endpoint.fetches == 2)
        let second = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: IdPKey(kid: "also-unknown", key: stranger.key)))
        #expect(second?.code == .unknownKeyID)
        #expect(idp.endpoint.fetches == 2, "a second unknown kid within the gap must not fetch again")
    }

    @Test func unknownKidRefreshesAgainAfterTheGap() async throws {
        let clock = ManualInstant()
        let idp = try await Harness(cacheSettings: .init(minimumRefreshGap: .seconds(10)), now: clock.now)
        let stranger = try IdPKey.rsa("not-published")
        _ = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: stranger))
        _ = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: stranger))
        #expect(idp.endpoint.fetches == 2)
        clock.advance(by: .seconds(11))
        let error = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: stranger))
        #expect(error?.code == .unknownKeyID)
        #expect(idp.endpoint.fetches == 3)
    }

    @Test func jwkAlgorithmPinsTheTokenAlgorithm() async throws {
        let pinned = try IdPKey.rsa("pinned-rs256", alg: "RS256")
        let idp = try await Harness(extraKeys: [pinned])
        let ps = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: pinned, alg: .ps256))
        #expect(ps?.code == .algorithmKeyMismatch)
        #expect(await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: pinned, alg: .rs256)) == nil)
    }

    @Test func algorithmOutsideTheConfiguredAllowlistIsRefused() async throws {
        var settings = Fixture.settings
        settings.algorithms = [.rs256]
        let idp = try await Harness(settings: settings)
        let error = await idp.refusal(try Fixture.token(Fixture.v2Claims(), key: idp.ec))
        #expect(error?.code == .unsupportedAlgorithm)
        #expect(error?.message.contains("RS256") == true)
    }
}

@Suite struct GoodTokenTests {
    @Test func entraV2Token() async throws {
        let idp = try await Harness()
        let token = try Fixture.token(Fixture.v2Claims(["scp": .string("read write  read")]), key: idp.rsa)
        let validated = try await idp.validator.validate(token, now: Fixture.now)
        #expect(validated.issuer == Fixture.issuerV2)
        #expect(validated.audiences == [Fixture.api])
        #expect(validated.clientID == Fixture.client)
        #expect(validated.tenantID == Fixture.tenant)
        #expect(validated.tokenID == "AbCdEf0123456789")
        #expect(validated.subject == "b7ce1f4d-6c0b-4b1f-9c3c-1d2e0f0a1b2c")
        #expect(validated.roles == ["Admin", "Reader"])
        #expect(validated.scopes == ["read", "write"])
        #expect(validated.keyID == "rsa-key-1")
        #expect(validated.algorithm == .rs256)
        #expect(validated.expiresAt == Date(timeIntervalSince1970: Fixture.nowSeconds + 3600))
        #expect(validated.notBefore == Date(timeIntervalSince1970: Fixture.nowSeconds - 60))
        #expect(validated.claims["ver"] == .string("2.0"))
        #expect(validated.confirmationThumbprint == nil)
    }

    @Test func entraV1Token() async throws {
        let idp = try await Harness()
        let token = try Fixture.token(Fixture.v1Claims(["app_roles": .array([.string("Reader"), .string("Ops")])]), key: idp.rsa)
        let validated = try await idp.validator.validate(token, now: Fixture.now)
        #expect(validated.issuer == Fixture.issuerV1)
        #expect(validated.audiences == ["api://\(Fixture.api)"])
        #expect(validated.clientID == Fixture.client)
        #expect(validated.roles == ["Reader", "Ops"])
        #expect(validated.scopes == [])
        #expect(validated.claims["ver"] == .string("1.0"))
    }

    @Test(arguments: [JWSAlgorithm.rs256, .ps256, .es256])
    func everyAllowedAlgorithm(_ algorithm: JWSAlgorithm) async throws {
        let idp = try await Harness()
        let key = algorithm == .es256 ? idp.ec : idp.rsa
        let validated = try await idp.validator.validate(try Fixture.token(Fixture.v2Claims(), key: key, alg: algorithm), now: Fixture.now)
        #expect(validated.algorithm == algorithm)
        #expect(validated.keyID == key.kid)
    }

    @Test func keycloakShapeWithScopeArrayAndConfirmation() async throws {
        let issuer = "https://keycloak.example/realms/camunda"
        let settings = TokenValidationSettings(issuers: [issuer], audiences: ["orchestration"], scopeClaims: ["scp", "scope"])
        let idp = try await Harness(settings: settings)
        let claims: [String: JSONValue] = [
            "iss": .string(issuer), "aud": .array([.string("account"), .string("orchestration")]),
            "exp": .number(Fixture.nowSeconds + 300), "iat": .number(Fixture.nowSeconds), "client_id": .string("zeebe"),
            "jti": .string("jti-1"), "scope": .string("profile email"), "scp": .array([.string("read")]),
            "cnf": .object(["x5t#S256": .string("thumb")]),
        ]
        let validated = try await idp.validator.validate(try Fixture.token(claims, key: idp.rsa), now: Fixture.now)
        #expect(validated.clientID == "zeebe")
        #expect(validated.tokenID == "jti-1")
        #expect(validated.scopes == ["read", "profile", "email"])
        #expect(validated.audiences == ["account", "orchestration"])
        #expect(validated.confirmationThumbprint == "thumb")
        #expect(validated.notBefore == nil)
    }

    @Test func leewayAppliesToExpNbfAndIat() async throws {
        let idp = try await Harness()
        let within: [String: JSONValue?] = [
            "exp": .number(Fixture.nowSeconds - 59), "nbf": .number(Fixture.nowSeconds + 59), "iat": .number(Fixture.nowSeconds + 59),
        ]
        #expect(await idp.refusal(try Fixture.token(Fixture.v2Claims(within), key: idp.rsa)) == nil)
        var strict = Fixture.settings
        strict.leeway = .zero
        let noLeeway = TokenValidator(settings: strict, keys: idp.keys)
        await #expect(throws: TokenValidationError.self) {
            try await noLeeway.validate(try Fixture.token(Fixture.v2Claims(["exp": .number(Fixture.nowSeconds - 1)]), key: idp.rsa), now: Fixture.now)
        }
    }

    @Test func claimValuesKeepTheirJSONTypes() async throws {
        let idp = try await Harness()
        let extra: [String: JSONValue] = [
            "t": .bool(true), "f": .bool(false), "one": .number(1), "zero": .number(0), "pi": .number(3.25),
            "big": .number(12_345_678_901_234), "none": .null, "text": .string("1"),
            "nested": .object(["list": .array([.bool(true), .number(1), .string("x"), .null, .object([:])])]),
        ]
        let validated = try await idp.validator.validate(try Fixture.token(Fixture.v2Claims(extra), key: idp.rsa), now: Fixture.now)
        for (name, value) in extra {
            #expect(validated.claims[name] == value, "claim \(name)")
        }
    }

    @Test func microsoftIssuers() {
        #expect(TokenValidationSettings.microsoftIssuers(configured: Fixture.issuerV2) == [Fixture.issuerV2, Fixture.issuerV1])
        let emulator = "https://localhost:9443/\(Fixture.tenant)/v2.0"
        #expect(TokenValidationSettings.microsoftIssuers(configured: emulator) == [emulator, Fixture.issuerV1, Fixture.issuerV2])
        #expect(TokenValidationSettings.microsoftIssuers(configured: Fixture.issuerV1) == [Fixture.issuerV1, Fixture.issuerV2])
        #expect(TokenValidationSettings.microsoftIssuers(configured: "https://idp.example") == ["https://idp.example"])
    }
}
