import ClientAssertion
import JOSE
import Crypto
import Foundation
import Keystore
import Testing
import _CryptoExtras

/// RS256 and PS256 are signed with the system OpenSSL (`OpenSSLRSASigner`); swift-crypto (BoringSSL) checks them.
@Suite struct OpenSSLSignerTests {
    @Test(arguments: [2048, 3072, 4096])
    func pkcs1SignaturesAreByteForByteSwiftCryptos(bits: Int) throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))
        let signer = try #require(OpenSSLRSASigner(der: Array(key.derRepresentation)))
        #expect(signer.signatureLength == bits / 8)
        let pkcs8 = try #require(OpenSSLRSASigner(der: Array(try _RSA.Signing.PrivateKey(pemRepresentation: key.pkcs8PEMRepresentation).derRepresentation)))
        for message in ["", "header.payload", String(repeating: "x", count: 5000)] {
            let digest = SHA256.hash(data: Array(message.utf8))
            let ours = try #require(signer.signature(forSHA256: Array(digest), padding: .pkcs1v15))
            // RSASSA-PKCS1-v1_5 is deterministic: both libraries must write the same bytes.
            #expect(ours == Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation))
            #expect(pkcs8.signature(forSHA256: Array(digest), padding: .pkcs1v15) == ours)
        }
    }

    @Test func pssSignaturesVerifyWithSwiftCryptoAndAreRandomised() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let signer = try #require(OpenSSLRSASigner(der: Array(key.derRepresentation)))
        let digest = SHA256.hash(data: Array("header.payload".utf8))
        let first = try #require(signer.signature(forSHA256: Array(digest), padding: .pss))
        let second = try #require(signer.signature(forSHA256: Array(digest), padding: .pss))
        #expect(first != second)  // a fresh 32-byte salt each time
        for signature in [first, second] {
            #expect(key.publicKey.isValidSignature(.init(rawRepresentation: signature), for: digest, padding: .PSS))
            #expect(!key.publicKey.isValidSignature(.init(rawRepresentation: signature), for: digest, padding: .insecurePKCS1v1_5))
        }
    }

    @Test func whatIsNotAnRSAPrivateKeyIsRefused() throws {
        #expect(OpenSSLRSASigner(der: []) == nil)
        #expect(OpenSSLRSASigner(der: Array("not a key".utf8)) == nil)
        #expect(OpenSSLRSASigner(der: Array(P256.Signing.PrivateKey().derRepresentation)) == nil)
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        #expect(OpenSSLRSASigner(der: Array(rsa.publicKey.derRepresentation)) == nil)
        #expect(OpenSSLRSASigner(der: Array(rsa.derRepresentation.dropLast(10))) == nil)
        let signer = try #require(OpenSSLRSASigner(der: Array(rsa.derRepresentation)))
        #expect(signer.signature(forSHA256: [1, 2, 3], padding: .pkcs1v15) == nil)  // not a SHA-256 digest
    }

    @Test func credentialsSignWithOpenSSLAndFallBackToSwiftCrypto() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let input = Array("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0".utf8)
        let viaOpenSSL = try JWS.signature(
            for: input, algorithm: .rs256, key: .rsa(key), rsaSigner: OpenSSLRSASigner(der: Array(key.derRepresentation)))
        let viaSwiftCrypto = try JWS.signature(for: input, algorithm: .rs256, key: .rsa(key))
        #expect(viaOpenSSL == viaSwiftCrypto)
        // An RSA signer never signs ES256: the key type decides, as before.
        #expect(throws: JWSError.self) {
            try JWS.signature(for: input, algorithm: .es256, key: .rsa(key), rsaSigner: OpenSSLRSASigner(der: Array(key.derRepresentation)))
        }
    }
}
