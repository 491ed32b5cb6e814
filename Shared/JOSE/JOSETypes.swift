import Crypto
import Foundation
import Keystore
import WireFormat
import _CryptoExtras

/// JWS algorithms the suite signs and verifies. Never `none`, never HMAC.
public enum JWSAlgorithm: String, Sendable, Codable, CaseIterable {
    case rs256 = "RS256"
    case ps256 = "PS256"
    case es256 = "ES256"
}

/// A public key that can check a JWS signature.
public enum VerificationKey: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)

    /// Whether signatures made with `algorithm` can come from a key of this type (RSA: RS256 and PS256; P-256: ES256).
    public func fits(_ algorithm: JWSAlgorithm) -> Bool {
        switch (algorithm, self) {
        case (.rs256, .rsa), (.ps256, .rsa), (.es256, .p256): return true
        default: return false
        }
    }

    /// "RSA 2048-bit" or "EC P-256", for messages and logs.
    public var keyDescription: String {
        switch self {
        case .rsa(let rsa): return "RSA \(rsa.keySizeInBits)-bit"
        case .p256: return "EC P-256"
        }
    }
}

/// The JOSE header fields the suite writes (``JWS/sign(header:claims:key:rsaSigner:)``) and reads (``StrictJWS``, which
/// reads it with the strict `JSONReader`, never with `JSONDecoder`).
public struct JOSEHeader: Encodable, Sendable, Equatable {
    public var alg: String
    /// `typ`. A header whose `typ` is present but not a string reads as ``nonStringType``, which no type matches.
    public var typ: String?
    public var kid: String?
    public var x5t: String?
    public var x5tS256: String?
    public var x5c: [String]?

    /// What ``StrictJWS`` puts in ``typ`` for a `typ` that is not a string.
    public static let nonStringType = "(not a string)"

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
        case alg, typ, kid, x5t, x5c
        case x5tS256 = "x5t#S256"
    }
}

/// Why a compact JWS (or a key for it) was refused: a code for callers to branch on, and a message naming the cause and
/// the fix that never contains the token. Every reader of a JWS in the suite (authn's validator, the emulator,
/// `certauth decode-token`, token-issuer's federated token file) reports these same messages.
public struct JWSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The codes share their raw values with `TokenValidationError.Code`.
    public enum Code: String, Sendable {
        /// Not three base64url parts, a part that is not strict base64url, a header or payload that is not a JSON object
        /// (duplicate member names included), an empty signature.
        case malformed
        case tooLarge
        /// `none`, HMAC, or an algorithm outside the accepted ones.
        case unsupportedAlgorithm
        /// The header's `alg` does not fit the key (its type, or the JWK's own `alg`).
        case algorithmKeyMismatch
        case invalidSignature
        /// A `crit` header: no extension is supported.
        case criticalHeader
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A malformed-JWS error (tests, and callers reporting their own input errors).
    public init(_ message: String) {
        self.init(.malformed, message)
    }
}

/// Quoted, length-capped rendering of a caller's value for messages (header and claim values come from the caller:
/// keep them short, control characters replaced).
package func quoted(_ value: String) -> String {
    let limit = 200
    var clipped = value.count > limit ? String(value.prefix(limit)) + "…" : value
    if clipped.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
        clipped = String(String.UnicodeScalarView(clipped.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
    }
    return "'\(clipped)'"
}

package func quotedList(_ values: [String]) -> String {
    "[" + values.map(quoted).joined(separator: ", ") + "]"
}

extension JOSEHeader {
    /// The bytes of a thumbprint header value (`x5t`, `x5t#S256`) in base64url or, as MSAL sends it, standard base64
    /// with padding (Entra accepts both); nil when it is neither.
    public static func thumbprintBytes(_ value: String) -> [UInt8]? {
        Base64URL.decodeEitherAlphabet(value)
    }
}

extension SigningKey {
    /// The JWK key type (`kty`, RFC 7518 §6.1) of the key: "RSA" or "EC".
    public var keyType: String {
        switch self {
        case .rsa: return "RSA"
        case .p256, .p384: return "EC"
        }
    }
}

extension Credential {
    /// The JOSE `x5c` value (RFC 7515 §4.1.6): standard base64 (with padding) DER of each chain certificate, leaf first.
    public var x5c: [String] {
        chainDER.map { Data($0).base64EncodedString() }
    }
}
