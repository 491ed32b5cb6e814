import Crypto
import Foundation
import Keystore
import _CryptoExtras
import WireFormat

/// A signing key from the IdP's JWKS.
public struct JSONWebKey: Sendable {
    /// `kid`: tokens name their key with it.
    public var keyID: String
    /// The JWK's own `alg`, when it has one: tokens must then use exactly that algorithm.
    public var algorithm: JWSAlgorithm?
    public var key: VerificationKey

    public init(keyID: String, algorithm: JWSAlgorithm?, key: VerificationKey) {
        self.keyID = keyID
        self.algorithm = algorithm
        self.key = key
    }

    /// "RSA 2048-bit" or "EC P-256", for messages and logs.
    public var keyDescription: String { key.keyDescription }

    /// Whether a token signed with `algorithm` can be checked with this key: the key type fits, and the JWK's own
    /// `alg` (if any) is the same.
    public func accepts(_ algorithm: JWSAlgorithm) -> Bool {
        (try? check(algorithm)) != nil
    }

    /// Refuses `algorithm` when it does not fit this key (``JWS/checkFit(_:key:keyID:keyAlgorithm:)``).
    public func check(_ algorithm: JWSAlgorithm) throws(JWSError) {
        try JWS.checkFit(algorithm, key: key, keyID: keyID, keyAlgorithm: self.algorithm)
    }
}

/// Why a document is not a JWKS at all (single keys that cannot be used are skipped, not thrown).
public struct JSONWebKeySetError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// Reads a JWKS document (RFC 7517) into signing keys. One bad key never spoils the others.
public enum JSONWebKeySetParser {
    /// Usable signing keys, and a reason for each skipped key (unknown kty/crv, use "enc", bad numbers, missing kid).
    /// Throws only when the document is not a JWKS at all.
    public static func parse(_ data: [UInt8]) throws(JSONWebKeySetError) -> (keys: [JSONWebKey], skipped: [String]) {
        let parsed = try parseDetailed(data)
        return (parsed.keys, parsed.skipped.map(\.text))
    }

    /// A skipped key: its kid when it has one, and the line `parse` reports.
    public struct SkippedKey: Sendable {
        public var kid: String?
        public var reason: String
        public var text: String { "key \(kid.map(quoted) ?? "without kid"): \(reason)" }
    }

    /// The keys, and each skipped key with its kid.
    public static func parseDetailed(_ data: [UInt8]) throws(JSONWebKeySetError) -> (keys: [JSONWebKey], skipped: [SkippedKey]) {
        guard case .array(let entries)? = JSONReader.object(data)?["keys"] else {
            throw JSONWebKeySetError("the JWKS document is not a JSON object with a 'keys' array")
        }
        var keys: [JSONWebKey] = []
        var skipped: [SkippedKey] = []
        var seen: Set<String> = []
        for (index, value) in entries.enumerated() {
            switch parseKey(value) {
            case .success(let key):
                if seen.insert(key.keyID).inserted {
                    keys.append(key)
                } else {
                    skipped.append(SkippedKey(kid: key.keyID, reason: "duplicate kid; the first key with this kid is used"))
                }
            case .failure(let skip):
                let kid = value.member("kid")?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                skipped.append(SkippedKey(kid: kid, reason: kid == nil ? "(entry #\(index)) \(skip.text)" : skip.text))
            }
        }
        return (keys, skipped)
    }

    private struct Skip: Error { var text: String; init(_ text: String) { self.text = text } }

    private static func parseKey(_ value: JSONValue) -> Result<JSONWebKey, Skip> {
        guard case .object(let jwk) = value else { return .failure(Skip("not a JSON object")) }
        guard let kid = jwk["kid"]?.stringValue, !kid.isEmpty else {
            return .failure(Skip("no 'kid'; tokens name their key by kid, so a key without one can never be used"))
        }
        if let use = jwk["use"]?.stringValue, use != "sig" {
            return .failure(Skip("use \(quoted(use)) is not 'sig' (an encryption key never verifies tokens)"))
        }
        if let operations = jwk["key_ops"]?.stringValues, !operations.contains("verify") {
            return .failure(Skip("key_ops \(quotedList(operations)) does not include 'verify'"))
        }
        var algorithm: JWSAlgorithm?
        if let alg = jwk["alg"]?.stringValue {
            guard let known = JWSAlgorithm(rawValue: alg) else {
                return .failure(Skip("alg \(quoted(alg)) is not supported; keys for RS256, PS256 or ES256 are used"))
            }
            algorithm = known
        }
        let key: VerificationKey
        switch jwk["kty"]?.stringValue {
        case "RSA":
            guard let n = jwk["n"]?.stringValue.flatMap(StrictBase64URL.decode),
                  let e = jwk["e"]?.stringValue.flatMap(StrictBase64URL.decode), !n.isEmpty, !e.isEmpty
            else { return .failure(Skip("RSA key without valid base64url 'n' and 'e'")) }
            let bits = bitLength(n)
            guard bits >= 2048 else {
                return .failure(Skip("RSA key is \(bits) bits; at least 2048 are required"))
            }
            guard bits <= 16_384 else {
                return .failure(Skip("RSA key is \(bits) bits; at most 16384 are accepted"))
            }
            do {
                key = .rsa(try _RSA.Signing.PublicKey(n: n, e: e))
            } catch {
                return .failure(Skip("RSA numbers 'n'/'e' do not form a valid public key"))
            }
        case "EC":
            let curve = jwk["crv"]?.stringValue ?? "(none)"
            guard curve == "P-256" else {
                return .failure(Skip("EC curve \(quoted(curve)) is not supported; only P-256 (ES256) is"))
            }
            guard let x = jwk["x"]?.stringValue.flatMap(StrictBase64URL.decode),
                  let y = jwk["y"]?.stringValue.flatMap(StrictBase64URL.decode), x.count == 32, y.count == 32
            else { return .failure(Skip("P-256 key without 32-byte base64url 'x' and 'y'")) }
            do {
                key = .p256(try P256.Signing.PublicKey(x963Representation: [0x04] + x + y))
            } catch {
                return .failure(Skip("P-256 coordinates 'x'/'y' are not a point on the curve"))
            }
        case let other:
            return .failure(Skip("kty \(quoted(other ?? "(none)")) is not supported; RSA and EC P-256 keys are used"))
        }
        let parsed = JSONWebKey(keyID: kid, algorithm: algorithm, key: key)
        if let algorithm, !parsed.accepts(algorithm) {
            return .failure(Skip("alg \(algorithm.rawValue) does not fit a \(parsed.keyDescription) key"))
        }
        return .success(parsed)
    }

    /// Bits of a big-endian unsigned integer, leading zero bytes ignored.
    private static func bitLength(_ bytes: [UInt8]) -> Int {
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (bytes.count - first - 1) * 8 + (8 - bytes[first].leadingZeroBitCount)
    }
}

extension JSONValue {
    /// The member `name` of an object; nil otherwise.
    package func member(_ name: String) -> JSONValue? {
        if case .object(let object) = self { return object[name] }
        return nil
    }
}

extension VerificationKey {
    /// The key as public JWK members (RFC 7518 §6): `kty` with `n` and `e` (RSA), or `kty`, `crv`, `x` and `y`
    /// (P-256). The writer beside ``JSONWebKeySetParser``'s reader: the emulator's JWKS, the bench's and the tests' are
    /// written with it; callers add `kid`, `use`, `alg` and their own members.
    public func jwkMembers() throws -> [String: JSONValue] {
        switch self {
        case .rsa(let rsa):
            let primitives = try rsa.getKeyPrimitives()
            return ["kty": .string("RSA"), "n": .string(Base64URL.encode(primitives.modulus)),
                    "e": .string(Base64URL.encode(primitives.publicExponent))]
        case .p256(let ec):
            let point = Array(ec.x963Representation)
            return ["kty": .string("EC"), "crv": .string("P-256"), "x": .string(Base64URL.encode(point[1..<33])),
                    "y": .string(Base64URL.encode(point[33..<65]))]
        }
    }
}

extension SigningKey {
    /// The public half as a JWS verification key; nil for a key no JWS algorithm of the suite uses (P-384).
    public var verificationKey: VerificationKey? {
        switch self {
        case .rsa(let rsa): return .rsa(rsa.publicKey)
        case .p256(let ec): return .p256(ec.publicKey)
        case .p384: return nil
        }
    }
}
