import AuthProtocol
import JOSE
import Foundation
import WireFormat

/// A bearer token that passed every check: its claims and what they mean.
///
/// A validated token keeps its payload as sent (the JSON bytes) instead of a dictionary of claims: authn's
/// `VerifiedTokenCache` holds 10,000 of them, and the bytes take about a third of the memory of the parsed claims.
/// The values derived at validation (issuer, subject, roles, …) are stored; ``claims`` is decoded on each read.
public struct ValidatedToken: Sendable {
    /// Every claim of the payload. Decoded from the payload on each read (a few microseconds for an Entra token):
    /// read it once where several claims are needed. Setting it replaces the claims.
    public var claims: [String: JSONValue] {
        get {
            switch claimStorage {
            case .payload(let bytes):
                // The payload was read as a JSON object when the token was validated, and reading is deterministic.
                return JSONReader.object(bytes) ?? [:]
            case .decoded(let claims):
                return claims
            }
        }
        set {
            claimStorage = .decoded(newValue)
        }
    }
    public var issuer: String
    public var subject: String?
    public var audiences: [String]
    /// `azp` (Entra v2) ?? `appid` (Entra v1) ?? `client_id` (Keycloak, RFC 9068).
    public var clientID: String?
    /// `tid`.
    public var tenantID: String?
    /// `jti` ?? `uti` (Entra): safe to log, unlike the token.
    public var tokenID: String?
    /// The `kid` of the key that verified the signature.
    public var keyID: String
    public var algorithm: JWSAlgorithm
    public var expiresAt: Date
    /// This token was validated before and answered from the verified-token cache (a token presented again).
    public var seenBefore = false
    public var notBefore: Date?
    /// From the role claims, deduplicated, order kept.
    public var roles: [String]
    /// From the scope claims (`scp` is space-separated), deduplicated, order kept.
    public var scopes: [String]
    /// `cnf["x5t#S256"]` (RFC 8705): the thumbprint of the client certificate a certificate-bound token belongs to.
    public var confirmationThumbprint: String?

    /// Where ``claims`` come from.
    private enum ClaimStorage: Sendable {
        /// The payload of a validated token: a JSON object.
        case payload([UInt8])
        /// Claims given to the initialiser or set.
        case decoded([String: JSONValue])
    }

    private var claimStorage: ClaimStorage

    public init(claims: [String: JSONValue], issuer: String, subject: String?, audiences: [String], clientID: String?,
                tenantID: String?, tokenID: String?, keyID: String, algorithm: JWSAlgorithm, expiresAt: Date,
                notBefore: Date?, roles: [String], scopes: [String], confirmationThumbprint: String?) {
        self.init(claimStorage: .decoded(claims), issuer: issuer, subject: subject, audiences: audiences,
                  clientID: clientID, tenantID: tenantID, tokenID: tokenID, keyID: keyID, algorithm: algorithm,
                  expiresAt: expiresAt, notBefore: notBefore, roles: roles, scopes: scopes,
                  confirmationThumbprint: confirmationThumbprint)
    }

    /// A validated token keeping `payload`, the JSON object its claims were read from.
    init(payload: [UInt8], issuer: String, subject: String?, audiences: [String], clientID: String?,
         tenantID: String?, tokenID: String?, keyID: String, algorithm: JWSAlgorithm, expiresAt: Date,
         notBefore: Date?, roles: [String], scopes: [String], confirmationThumbprint: String?) {
        self.init(claimStorage: .payload(payload), issuer: issuer, subject: subject, audiences: audiences,
                  clientID: clientID, tenantID: tenantID, tokenID: tokenID, keyID: keyID, algorithm: algorithm,
                  expiresAt: expiresAt, notBefore: notBefore, roles: roles, scopes: scopes,
                  confirmationThumbprint: confirmationThumbprint)
    }

    private init(claimStorage: ClaimStorage, issuer: String, subject: String?, audiences: [String],
                 clientID: String?, tenantID: String?, tokenID: String?, keyID: String, algorithm: JWSAlgorithm,
                 expiresAt: Date, notBefore: Date?, roles: [String], scopes: [String],
                 confirmationThumbprint: String?) {
        self.claimStorage = claimStorage
        self.issuer = issuer
        self.subject = subject
        self.audiences = audiences
        self.clientID = clientID
        self.tenantID = tenantID
        self.tokenID = tokenID
        self.keyID = keyID
        self.algorithm = algorithm
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.roles = roles
        self.scopes = scopes
        self.confirmationThumbprint = confirmationThumbprint
    }
}
