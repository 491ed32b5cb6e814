import Crypto
import Foundation
import JOSE
import Keystore
import Testing
import WireFormat
import _CryptoExtras

/// A public JWK as an IdP publishes it, from a fresh key.
struct JWK {
    var kid: String
    var key: SigningKey
    var alg: String?

    static func rsa(_ kid: String, alg: String? = nil) throws -> JWK {
        JWK(kid: kid, key: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)), alg: alg)
    }

    static func p256(_ kid: String, alg: String? = nil) -> JWK {
        JWK(kid: kid, key: .p256(P256.Signing.PrivateKey()), alg: alg)
    }

    var jwk: JSONValue {
        get throws {
            guard var members = try key.verificationKey?.jwkMembers() else {
                throw JWSError("P-384 keys are not published in these tests")
            }
            members["kid"] = .string(kid)
            members["use"] = .string("sig")
            if let alg { members["alg"] = .string(alg) }
            return .object(members)
        }
    }

    static func document(_ keys: [JSONValue]) throws -> [UInt8] {
        Array(try JSONEncoder().encode(JSONValue.object(["keys": .array(keys)])))
    }
}

@Suite struct JSONWebKeySetParserTests {
    @Test func badKeysAreSkippedWithReasonsWhileGoodKeysLoad() throws {
        let rsa = try JWK.rsa("good-rsa")
        let ec = JWK.p256("good-ec", alg: "ES256")
        let small = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        let smallPrimitives = try small.publicKey.getKeyPrimitives()
        let p521 = P521.Signing.PrivateKey().publicKey.x963Representation
        var encryption = try JWK.rsa("enc-key").jwk
        if case .object(var members) = encryption {
            members["use"] = .string("enc")
            encryption = .object(members)
        }
        var noKid = try JWK.rsa("x").jwk
        if case .object(var members) = noKid {
            members["kid"] = nil
            noKid = .object(members)
        }
        let document = try JWK.document([
            try rsa.jwk,
            encryption,
            .object(["kid": .string("oct-key"), "kty": .string("oct"), "k": .string("c2VjcmV0")]),
            .object(["kid": .string("p521"), "kty": .string("EC"), "crv": .string("P-521"),
                     "x": .string(Base64URL.encode(p521[1..<67])), "y": .string(Base64URL.encode(p521[67...]))]),
            .object(["kid": .string("small-rsa"), "kty": .string("RSA"),
                     "n": .string(Base64URL.encode(smallPrimitives.modulus)), "e": .string(Base64URL.encode(smallPrimitives.publicExponent))]),
            noKid,
            .object(["kid": .string("bad-n"), "kty": .string("RSA"), "n": .string("!!"), "e": .string("AQAB")]),
            .object(["kid": .string("rs384"), "kty": .string("RSA"), "alg": .string("RS384"), "n": .string("AQAB"), "e": .string("AQAB")]),
            .object(["kid": .string("ec-off-curve"), "kty": .string("EC"), "crv": .string("P-256"),
                     "x": .string(Base64URL.encode([UInt8](repeating: 1, count: 32))), "y": .string(Base64URL.encode([UInt8](repeating: 2, count: 32)))]),
            .string("not an object"),
            try ec.jwk,
            try JWK.rsa("good-rsa").jwk,
        ])
        let (keys, skipped) = try JSONWebKeySetParser.parse(document)
        #expect(keys.map { $0.keyID } == ["good-rsa", "good-ec"])
        #expect(keys.last?.algorithm == .es256)
        #expect(skipped.count == 10)
        let text = skipped.joined(separator: "\n")
        for expected in ["'enc-key'", "'oct'", "'P-521'", "1024 bits", "no 'kid'", "'bad-n'", "'RS384'", "'ec-off-curve'", "not a JSON object", "duplicate"] {
            #expect(text.contains(expected), "missing reason mentioning \(expected)")
        }
    }

    @Test(arguments: ["", "[]", "{}", #"{"keys": {}}"#, "<html>oops</html>"])
    func notAJWKSThrows(_ text: String) {
        let error = #expect(throws: JSONWebKeySetError.self) { try JSONWebKeySetParser.parse(Array(text.utf8)) }
        #expect(error?.message == "the JWKS document is not a JSON object with a 'keys' array")
    }
}
