import AuthProtocol
import JOSE
import Foundation
import Keystore
import Testing
import TokenValidation
import WireFormat

/// Header and payload JSON that a token reader must not be confused by (RFC 7515 §4, RFC 8725 §3): duplicate names,
/// deep nesting, truncation, broken text. Each is refused as malformed, without trapping.
@Suite struct HostileJSONTests {
    @Test func duplicateHeaderNamesAreRefused() async throws {
        let idp = try await Harness()
        let payload = try Fixture.json(Fixture.v2Claims())
        for header in [
            #"{"alg":"RS256","kid":"rsa-key-1","alg":"none"}"#,
            #"{"alg":"none","kid":"rsa-key-1","alg":"RS256"}"#,
            #"{"alg":"RS256","kid":"other","kid":"rsa-key-1"}"#,
        ] {
            let refusal = await idp.refusal(try Fixture.handToken(header: header, payload: payload, key: idp.rsa))
            #expect(refusal?.code == .malformed, "\(header)")
        }
    }

    @Test func duplicateClaimNamesAreRefused() async throws {
        let idp = try await Harness()
        var payload = try Fixture.json(Fixture.v2Claims())
        payload.removeLast()
        payload += #","iss":"https://evil.example/"}"#
        let token = try Fixture.handToken(header: #"{"alg":"ES256","kid":"ec-key-1"}"#, payload: payload, key: idp.ec,
                                          algorithm: .es256)
        #expect(await idp.refusal(token)?.code == .malformed)
    }

    /// The validator reads a dozen claims and skips the others, but refuses what `JSONReader.object` refuses anywhere
    /// in the payload, so that `ValidatedToken.claims` can always read it back.
    @Test func claimsTheChecksDoNotReadAreStillChecked() async throws {
        let idp = try await Harness()
        var payload = try Fixture.json(Fixture.v2Claims())
        payload.removeLast()
        for tail in [
            #","xms_a":1,"xms_a":2}"#, #","xms_a":"\ud800"}"#, #","xms_a":1e400}"#, #","xms_a":[1,]}"#,
            #","xms_a":{"b":1,"b":1}}"#, #","xms_\u0061":1,"xms_a":2}"#,
        ] {
            let token = try Fixture.handToken(header: #"{"alg":"ES256","kid":"ec-key-1"}"#, payload: payload + tail,
                                              key: idp.ec, algorithm: .es256)
            #expect(await idp.refusal(token)?.code == .malformed, "\(tail)")
        }
        let good = try Fixture.handToken(header: #"{"alg":"ES256","kid":"ec-key-1"}"#,
                                         payload: payload + #","xms_a":{"b":[1,"\u00e9"]},"xms_b":"x"}"#,
                                         key: idp.ec, algorithm: .es256)
        let validated = try await idp.validator.validate(good, now: Fixture.now)
        #expect(validated.claims["xms_a"] == .object(["b": .array([.number(1), .string("\u{e9}")])]))
    }

    @Test func roleAndScopeClaimsMayNameAnyClaim() async throws {
        let settings = TokenValidationSettings(issuers: Fixture.settings.issuers, audiences: Fixture.settings.audiences,
                                               roleClaims: ["roles", "azp", "roles"], scopeClaims: ["scp", "sub"])
        let idp = try await Harness(settings: settings)
        let claims = Fixture.v2Claims(["scp": .string("read write")])
        let validated = try await idp.validator.validate(try Fixture.token(claims, key: idp.rsa), now: Fixture.now)
        #expect(validated.roles == ["Admin", "Reader", Fixture.client])
        #expect(validated.scopes == ["read", "write", "b7ce1f4d-6c0b-4b1f-9c3c-1d2e0f0a1b2c"])
        #expect(validated.clientID == Fixture.client)
    }

    @Test func deeplyNestedHeaderIsRefused() async throws {
        let idp = try await Harness()
        let payload = try Fixture.json(Fixture.v2Claims())
        let nested = #"{"alg":"RS256","kid":"rsa-key-1","x":"# + String(repeating: "[", count: 3_000)
            + String(repeating: "]", count: 3_000) + "}"
        let refusal = await idp.refusal(try Fixture.handToken(header: nested, payload: payload))
        #expect(refusal?.code == .malformed)
    }

    /// Every prefix of a real header, and of a real payload signed as it is, is refused as malformed.
    @Test func everyTruncationIsRefused() async throws {
        let idp = try await Harness()
        let header = #"{"alg":"ES256","kid":"ec-key-1","typ":"JWT"}"#
        let payload = try Fixture.json(Fixture.v2Claims(["name": .string("Ren\u{e9}e \u{1F600}")]))
        let good = try Fixture.handToken(header: header, payload: payload, key: idp.ec, algorithm: .es256)
        #expect(await idp.refusal(good) == nil)
        for length in 1..<header.utf8.count {
            let cut = String(decoding: Array(header.utf8)[..<length], as: UTF8.self)
            let token = try Fixture.handToken(header: cut, payload: payload, key: idp.ec, algorithm: .es256)
            #expect(await idp.refusal(token)?.code == .malformed, "header prefix \(length)")
        }
        let bytes = Array(payload.utf8)
        for length in 0..<bytes.count {
            let input = "\(Base64URL.encode(Array(header.utf8))).\(Base64URL.encode(Array(bytes[..<length])))"
            let signature = try JWS.signature(for: Array(input.utf8), algorithm: .es256, key: idp.ec.key)
            let token = "\(input).\(Base64URL.encode(signature))"
            #expect(await idp.refusal(token)?.code == .malformed, "payload prefix \(length)")
        }
    }

    @Test func invalidTextInTheHeaderIsRefused() async throws {
        let idp = try await Harness()
        let payload = Base64URL.encode(Array(try Fixture.json(Fixture.v2Claims()).utf8))
        for header: [UInt8] in [
            Array(#"{"alg":"RS256","kid":"\ud800"}"#.utf8),
            [0xEF, 0xBB, 0xBF] + Array(#"{"alg":"RS256","kid":"rsa-key-1"}"#.utf8),
            Array(#"{"alg":"RS256","kid":"rsa-key-1""#.utf8) + [0xFF] + Array("}".utf8),
            Array(#"{"alg":"RS256","kid":"rsa-key-1",}"#.utf8),
        ] {
            let token = "\(Base64URL.encode(header)).\(payload).\(Base64URL.encode([UInt8](repeating: 7, count: 256)))"
            #expect(await idp.refusal(token)?.code == .malformed, "\(header)")
        }
    }
}
