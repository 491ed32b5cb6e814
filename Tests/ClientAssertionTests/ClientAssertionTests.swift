import ClientAssertion
import JOSE
import Crypto
import DevPKI
import Foundation
import Keystore
import Testing
import X509
import _CryptoExtras

@Suite struct ClientAssertionTests {
    let credential: Credential

    init() throws {
        let ca = try DevPKI.makeCA()
        let leaf = try DevPKI.issueService("identity", ca: ca)
        let p12 = try DevPKI.pkcs12(leaf, alias: "identity", chain: [ca], password: "pw")
        credential = try KeystoreLoader.load(
            data: p12, path: "mem.p12", password: "pw", alias: "identity", keyPassword: nil,
            settings: KeystoreSettingNames(path: "the test keystore", password: "its password", alias: "its alias", keyPassword: "its key password")
        ).credential
    }

    @Test(arguments: [JWSAlgorithm.rs256, .ps256])
    func assertionHasEntrasHeaderAndClaimsAndVerifies(algorithm: JWSAlgorithm) throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let settings = ClientAssertionSettings(clientID: "client-1", algorithm: algorithm, lifetime: 600, sendX5C: true)
        let audience = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
        let signed = try ClientAssertionBuilder.make(credential: credential, settings: settings, audience: audience, now: now)
        let jws = try StrictJWS(parsing: signed.token)
        #expect(jws.header.alg == algorithm.rawValue)
        #expect(jws.header.typ == "JWT")
        #expect(jws.header.x5t == credential.x5t)
        #expect(jws.header.x5tS256 == credential.x5tS256)
        let header = try #require(jws.headerJSON.flatMap { try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] })
        #expect((header["x5c"] as? [String])?.count == 2)
        let claims = try jws.claims(as: ClientAssertionClaims.self)
        #expect(claims.aud == audience)
        #expect(claims.iss == "client-1")
        #expect(claims.sub == "client-1")
        #expect(claims.iat == 1_800_000_000)
        #expect(claims.nbf == 1_800_000_000)
        #expect(claims.exp == 1_800_000_600)
        #expect(UUID(uuidString: claims.jti) != nil)
        // Integer timestamps on the wire (glewlwyd rejects floats).
        let raw = String(decoding: jws.payload, as: UTF8.self)
        #expect(raw.contains("\"exp\":1800000600"))
        guard case .rsa(let key) = credential.privateKey else { Issue.record("expected RSA"); return }
        #expect(jws.algorithm == algorithm)
        #expect(JWS.verify(jws, key: .rsa(key.publicKey)))
        // The header alg must match the verifier's: an RS256 signature is not a valid PS256 one.
        let other: JWSAlgorithm = algorithm == .rs256 ? .ps256 : .rs256
        #expect(!JWS.verify(jws.signature, digest: jws.digest, algorithm: other, key: .rsa(key.publicKey)))
    }

    @Test func everyAssertionIsFresh() throws {
        let settings = ClientAssertionSettings(clientID: "c")
        let a = try ClientAssertionBuilder.make(credential: credential, settings: settings, audience: "aud")
        let b = try ClientAssertionBuilder.make(credential: credential, settings: settings, audience: "aud")
        #expect(a.jti != b.jti)
        #expect(a.token != b.token)
    }

    @Test func lifetimeIsCappedAt600Seconds() throws {
        let settings = ClientAssertionSettings(clientID: "c", lifetime: 3600)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let signed = try ClientAssertionBuilder.make(credential: credential, settings: settings, audience: "aud", now: now)
        let claims = try StrictJWS(parsing: signed.token).claims(as: ClientAssertionClaims.self)
        #expect(claims.exp - claims.nbf == 600)
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "!!!.e30.c2ln", "e30.e30.", "bm90IGpzb24.e30.c2ln"])
    func malformedTokensAreRefusedWithAReason(token: String) {
        #expect(throws: JWSError.self) { try StrictJWS(parsing: token) }
    }
}
