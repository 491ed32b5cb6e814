import Foundation
import JOSE
import Keystore

/// The claims of an RFC 7523 client assertion, as Entra's certificate credentials require them.
public struct ClientAssertionClaims: Codable, Sendable, Equatable {
    public var aud: String
    public var iss: String
    public var sub: String
    public var jti: String
    public var nbf: Int
    public var iat: Int
    public var exp: Int
}

/// How assertions are made: for which client, with which algorithm, for how long.
public struct ClientAssertionSettings: Sendable, Equatable {
    /// Longest lifetime Entra accepts for an assertion.
    public static let maximumLifetime = 600

    public var clientID: String
    public var algorithm: JWSAlgorithm
    /// Seconds from `nbf` to `exp`, 1 to 600.
    public var lifetime: Int
    /// Whether to send the certificate chain in `x5c` (for subject-name/issuer registrations).
    public var sendX5C: Bool

    public init(clientID: String, algorithm: JWSAlgorithm = .rs256, lifetime: Int = 300, sendX5C: Bool = false) {
        self.clientID = clientID
        self.algorithm = algorithm
        self.lifetime = lifetime
        self.sendX5C = sendX5C
    }
}

/// A signed assertion. `token` is a secret: log `jti` only.
public struct SignedAssertion: Sendable {
    public var token: String
    public var jti: String
    public var expiresAt: Date
    /// The `aud` it was signed for.
    public var audience: String = ""
}

/// Builds RFC 7523 client assertions signed with a keystore credential: header `alg`, `typ: JWT`, `kid`,
/// `x5t`, `x5t#S256` (and `x5c` when asked); claims `aud`, `iss` = `sub` = client id, a fresh UUID `jti`,
/// integer `nbf`, `iat`, `exp`.
public enum ClientAssertionBuilder {
    /// A fresh assertion for `audience` (the token endpoint), valid from `now`.
    public static func make(
        credential: Credential, settings: ClientAssertionSettings, audience: String, now: Date = Date()
    ) throws -> SignedAssertion {
        let issuedAt = Int(now.timeIntervalSince1970)
        let lifetime = min(max(settings.lifetime, 1), ClientAssertionSettings.maximumLifetime)
        let jti = UUID().uuidString.lowercased()
        let claims = ClientAssertionClaims(
            aud: audience, iss: settings.clientID, sub: settings.clientID, jti: jti,
            nbf: issuedAt, iat: issuedAt, exp: issuedAt + lifetime)
        let header = JOSEHeader(
            alg: settings.algorithm.rawValue, typ: "JWT", kid: credential.x5tS256,
            x5t: credential.x5t, x5tS256: credential.x5tS256,
            x5c: settings.sendX5C ? credential.x5c : nil)
        let token = try JWS.sign(header: header, claims: claims, key: credential.privateKey, rsaSigner: credential.rsaSigner)
        return SignedAssertion(
            token: token, jti: jti, expiresAt: Date(timeIntervalSince1970: TimeInterval(issuedAt + lifetime)), audience: audience)
    }
}
