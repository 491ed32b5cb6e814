import Crypto
import Foundation
import JOSE
import Keystore
import Testing
import WireFormat
import _CryptoExtras

/// Hand-made compact JWS parts, so that tests can break exactly one thing.
enum Hand {
    static func part(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }

    /// `header.payload.signature` signed with `key` under `algorithm` (the signature covers the parts as given).
    static func token(header: String, payload: String = #"{"iss":"i","exp":2000000000}"#, key: SigningKey,
                      algorithm: JWSAlgorithm = .rs256) throws -> String {
        let input = "\(part(header)).\(part(payload))"
        let signature = try JWS.signature(for: Array(input.utf8), algorithm: algorithm, key: key)
        return "\(input).\(Base64URL.encode(signature))"
    }

    private static let rsaKey = Result { try _RSA.Signing.PrivateKey(keySize: .bits2048) }
    static var rsa: _RSA.Signing.PrivateKey { get throws { try rsaKey.get() } }
    static let ec = P256.Signing.PrivateKey()
}

@Suite struct StrictJWSTests {
    @Test(arguments: [JWSAlgorithm.rs256, .ps256, .es256])
    func signedTokensReadAndVerify(algorithm: JWSAlgorithm) throws {
        let key: SigningKey = algorithm == .es256 ? .p256(Hand.ec) : .rsa(try Hand.rsa)
        let verification: VerificationKey = algorithm == .es256 ? .p256(Hand.ec.publicKey) : .rsa(try Hand.rsa.publicKey)
        let token = try JWS.sign(header: JOSEHeader(alg: algorithm.rawValue, kid: "k1", x5t: "AA", x5tS256: "AQ"),
                                 claims: ["iss": "me"], key: key)
        let cache = JWSHeaderCache()
        for _ in 0..<2 {
            let jws = try StrictJWS(parsing: token, headers: cache)
            #expect(jws.algorithm == algorithm)
            #expect(jws.header.kid == "k1" && jws.header.typ == "JWT" && jws.header.x5t == "AA" && jws.header.x5tS256 == "AQ")
            #expect(try jws.claims()["iss"] == .string("me"))
            #expect(JWS.verify(jws, key: verification))
        }
        // One character of the payload changed: the digest no longer matches.
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = Hand.part(#"{"iss":"you"}"#)
        #expect(!JWS.verify(try StrictJWS(parsing: parts.joined(separator: ".")), key: verification))
    }

    /// The cases every reader of the suite refuses the same way: the code and the message of each.
    static func refusal(_ token: String, algorithms: Set<JWSAlgorithm> = Set(JWSAlgorithm.allCases)) -> JWSError? {
        do {
            let jws = try StrictJWS(parsing: token, algorithms: algorithms)
            _ = try jws.claims()
            return nil
        } catch {
            return error
        }
    }

    @Test func duplicateMembersAreRefused() throws {
        let key = SigningKey.rsa(try Hand.rsa)
        let header = try #require(Self.refusal(try Hand.token(header: #"{"alg":"RS256","kid":"a","kid":"b"}"#, key: key)))
        #expect(header.code == .malformed && header.message.contains("token header is not a JSON object"))
        let twoAlgs = try #require(Self.refusal(try Hand.token(header: #"{"alg":"RS256","alg":"none"}"#, key: key)))
        #expect(twoAlgs == header)
        let payload = try #require(Self.refusal(try Hand.token(header: #"{"alg":"RS256"}"#, payload: #"{"sub":"a","sub":"b"}"#, key: key)))
        #expect(payload == StrictJWS.malformedPayload)
        // The Decodable view of the payload is refused too, not resolved by JSONDecoder's keep-the-first.
        struct Subject: Decodable { var sub: String }
        let jws = try StrictJWS(parsing: try Hand.token(header: #"{"alg":"RS256"}"#, payload: #"{"sub":"a","sub":"b"}"#, key: key))
        #expect(throws: StrictJWS.malformedPayload) { _ = try jws.claims(as: Subject.self) }
    }

    @Test(arguments: [0, 1, 2])
    func paddingAndNonCanonicalBase64URLAreRefusedInEveryPart(index: Int) throws {
        let token = try Hand.token(header: #"{"alg":"RS256","kid":"k"}"#, payload: #"{"a":1}"#, key: .rsa(try Hand.rsa))
        #expect(Self.refusal(token) == nil)
        let parts = token.split(separator: ".").map(String.init)
        let name = ["header", "payload", "signature"][index]
        func with(_ replacement: String) -> String {
            var copy = parts
            copy[index] = replacement
            return copy.joined(separator: ".")
        }
        var variants = [with(parts[index] + "="), with(parts[index] + "=="), with(parts[index].replacingOccurrences(of: "-", with: "+") + "+/")]
        // Non-zero bits after the last byte: the same bytes to a lenient decoder, refused here.
        let text = parts[index]
        if text.count % 4 == 2 || text.count % 4 == 3, let last = text.last,
           let alphabetIndex = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_").firstIndex(of: last) {
            let bumped = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")[(alphabetIndex + 1) % 64]
            variants.append(with(String(text.dropLast()) + String(bumped)))
            #expect(Base64URL.decode(String(text.dropLast()) + String(bumped)) != nil, "a lenient decoder accepts it")
        }
        for variant in variants {
            let error = try #require(Self.refusal(variant))
            #expect(error.code == .malformed)
            #expect(error.message.hasPrefix("token \(name) is missing or not base64url"), "\(error.message)")
        }
    }

    @Test func unsignedHMACAndUnacceptedAlgorithmsAreRefused() throws {
        let payload = Hand.part(#"{"iss":"i"}"#)
        let none = try #require(Self.refusal("\(Hand.part(#"{"alg":"none"}"#)).\(payload).c2ln"))
        #expect(none.code == .unsupportedAlgorithm && none.message.contains("unsigned (alg 'none')"))
        let noneEmpty = try #require(Self.refusal("\(Hand.part(#"{"alg":"none"}"#)).\(payload)."))
        #expect(noneEmpty == none)
        let hmac = try #require(Self.refusal("\(Hand.part(#"{"alg":"HS256"}"#)).\(payload).c2ln"))
        #expect(hmac.code == .unsupportedAlgorithm && hmac.message.contains("HMAC"))
        let es = try #require(Self.refusal(try Hand.token(header: #"{"alg":"ES256"}"#, key: .p256(Hand.ec), algorithm: .es256), algorithms: [.rs256]))
        #expect(es.code == .unsupportedAlgorithm && es.message.contains("accepted: RS256"))
    }

    @Test func shapeCritAndSizeAreRefused() throws {
        let payload = Hand.part("{}")
        let cases: [(String, JWSError.Code)] = [
            ("", .malformed), ("a.b", .malformed), ("a.b.c.d", .malformed), ("!!!.e30.c2ln", .malformed),
            ("\(Hand.part(#"{"alg":"RS256"}"#)).\(payload).", .malformed),
            ("\(Hand.part("not json")).\(payload).c2ln", .malformed),
            ("\(Hand.part(#"{"alg":5}"#)).\(payload).c2ln", .malformed),
            ("\(Hand.part(#"{"alg":"RS256","kid":5}"#)).\(payload).c2ln", .malformed),
            ("\(Hand.part(#"{"alg":"RS256","crit":["exp"],"exp":1}"#)).\(payload).c2ln", .criticalHeader),
            (String(repeating: "a", count: 16 * 1024 + 1), .tooLarge),
        ]
        for (token, code) in cases {
            #expect(Self.refusal(token)?.code == code, "\(token.prefix(60))")
        }
    }

    @Test func algorithmAndKeyMustFit() throws {
        let rsa = VerificationKey.rsa(try Hand.rsa.publicKey)
        #expect(throws: Never.self) { try JWS.checkFit(.rs256, key: rsa, keyID: "k") }
        let error = #expect(throws: JWSError.self) { try JWS.checkFit(.es256, key: rsa, keyID: "k") }
        #expect(error?.code == .algorithmKeyMismatch)
        #expect(error?.message.hasPrefix("token alg ES256 does not fit key 'k' (RSA 2048-bit)") == true)
        let pinned = #expect(throws: JWSError.self) { try JWS.checkFit(.ps256, key: rsa, keyID: "k", keyAlgorithm: .rs256) }
        #expect(pinned?.message.contains("JWK alg RS256") == true)
        // An ES256 signature never verifies under an RSA key, whatever its bytes.
        let jws = try StrictJWS(parsing: try Hand.token(header: #"{"alg":"ES256"}"#, key: .p256(Hand.ec), algorithm: .es256))
        #expect(!JWS.verify(jws, key: rsa))
    }

    @Test func thumbprintHeadersAreReadInBase64URLOrStandardBase64() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x01]
        #expect(JOSEHeader.thumbprintBytes(Base64URL.encode(bytes)) == bytes)
        #expect(JOSEHeader.thumbprintBytes(Data(bytes).base64EncodedString()) == bytes)
        #expect(JOSEHeader.thumbprintBytes("not base64!") == nil)
    }
}
