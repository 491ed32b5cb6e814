import Crypto
import Foundation
import Keystore
import _CryptoExtras
import WireFormat

/// JWS algorithms the suite signs and verifies. Never `none`, never HMAC.
public enum JWSAlgorithm: String, Sendable, Codable, CaseIterable {
    case rs256 = "RS256"
    case ps256 = "PS256"
    case es256 = "ES256"
}

/// The JOSE header fields the suite reads and writes.
public struct JOSEHeader: Codable, Sendable, Equatable {
    public var alg: String
    public var typ: String?
    public var kid: String?
    public var x5t: String?
    public var x5tS256: String?
    public var x5c: [String]?
    public var crit: [String]?
    public var jku: String?
    public var x5u: String?

    public init(alg: String, typ: String? = "JWT", kid: String? = nil, x5t: String? = nil, x5tS256: String? = nil,
                x5c: [String]? = nil) {
        self.alg = alg
        self.typ = typ
        self.kid = kid
        self.x5t = x5t
        self.x5tS256 = x5tS256
        self.x5c = x5c
    }

    enum CodingKeys: String, CodingKey {
        case alg, typ, kid, x5t, x5c, crit, jku, x5u
        case x5tS256 = "x5t#S256"
    }
}

/// Why a compact JWS could not be read.
public struct JWSError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A compact-serialised JWS split into its parts. Holds the token only in memory; never log it.
public struct CompactJWS: Sendable {
    public let header: JOSEHeader
    public let headerJSON: [UInt8]
    public let payload: [UInt8]
    public let signature: [UInt8]
    /// `BASE64URL(header) . BASE64URL(payload)`: the bytes the signature covers.
    public let signingInput: [UInt8]

    /// Parses `token`; the error says which part is malformed, never echoing the token.
    public init(parsing token: String, maxLength: Int = 16 * 1024) throws(JWSError) {
        guard token.utf8.count <= maxLength else {
            throw JWSError("token is longer than \(maxLength) bytes")
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw JWSError("not a compact JWS: expected 3 dot-separated parts, found \(parts.count)")
        }
        guard let headerBytes = Base64URL.decode(String(parts[0])) else { throw JWSError("header is not base64url") }
        guard let payload = Base64URL.decode(String(parts[1])) else { throw JWSError("payload is not base64url") }
        guard let signature = Base64URL.decode(String(parts[2])), !signature.isEmpty else {
            throw JWSError("signature is missing or not base64url")
        }
        let header: JOSEHeader
        do {
            header = try JSONDecoder().decode(JOSEHeader.self, from: Data(headerBytes))
        } catch {
            throw JWSError("header is not a JSON object with a string 'alg'")
        }
        self.header = header
        self.headerJSON = headerBytes
        self.payload = payload
        self.signature = signature
        self.signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
    }

    /// The payload decoded as `T`.
    public func claims<T: Decodable>(as type: T.Type = T.self) throws(JWSError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(payload))
        } catch {
            throw JWSError("payload is not a JSON object of the expected shape")
        }
    }
}

/// A public key that can check a JWS signature.
public enum VerificationKey: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
}

/// Signing and verifying compact JWS: swift-crypto, except RSA signatures when an `OpenSSLRSASigner` is given.
public enum JWS {
    /// Signs `claims` under `header` with `key`; the header's `alg` picks the padding (RS256: PKCS#1 v1.5, PS256: PSS).
    /// `rsaSigner`, when given (``Credential/rsaSigner``), signs RS256 and PS256 in place of swift-crypto.
    public static func sign<Claims: Encodable>(
        header: JOSEHeader, claims: Claims, key: SigningKey, rsaSigner: OpenSSLRSASigner? = nil
    ) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let headerPart = Base64URL.encode(try encoder.encode(header))
        let payloadPart = Base64URL.encode(try encoder.encode(claims))
        let input = Array("\(headerPart).\(payloadPart)".utf8)
        guard let algorithm = JWSAlgorithm(rawValue: header.alg) else {
            throw JWSError("algorithm \(header.alg) is not supported for signing; use RS256, PS256 or ES256")
        }
        let signature = try signature(for: input, algorithm: algorithm, key: key, rsaSigner: rsaSigner)
        return "\(headerPart).\(payloadPart).\(Base64URL.encode(signature))"
    }

    /// The raw signature over `input`.
    public static func signature(
        for input: [UInt8], algorithm: JWSAlgorithm, key: SigningKey, rsaSigner: OpenSSLRSASigner? = nil
    ) throws -> [UInt8] {
        let digest = SHA256.hash(data: input)
        if let rsaSigner, case .rsa = key, algorithm == .rs256 || algorithm == .ps256,
            let signature = rsaSigner.signature(forSHA256: Array(digest), padding: algorithm == .ps256 ? .pss : .pkcs1v15)
        {
            return signature
        }
        switch (algorithm, key) {
        case (.rs256, .rsa(let rsa)):
            return Array(try rsa.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.ps256, .rsa(let rsa)):
            return Array(try rsa.signature(for: digest, padding: .PSS).rawRepresentation)
        case (.es256, .p256(let ec)):
            return Array(try ec.signature(for: digest).rawRepresentation)
        default:
            throw JWSError("algorithm \(algorithm.rawValue) does not fit the key type; RSA keys sign RS256 or PS256, P-256 keys ES256")
        }
    }

    /// Whether the signature of `jws` is valid for `algorithm` under `key`. The algorithm must fit the key type.
    public static func verify(_ jws: CompactJWS, algorithm: JWSAlgorithm, key: VerificationKey) -> Bool {
        let digest = SHA256.hash(data: jws.signingInput)
        switch (algorithm, key) {
        case (.rs256, .rsa(let rsa)):
            return rsa.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: jws.signature), for: digest, padding: .insecurePKCS1v1_5)
        case (.ps256, .rsa(let rsa)):
            return rsa.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: jws.signature), for: digest, padding: .PSS)
        case (.es256, .p256(let ec)):
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: jws.signature) else { return false }
            return ec.isValidSignature(signature, for: digest)
        default:
            return false
        }
    }
}
