import AuthProtocol
import ClientAssertion
import Foundation

/// A bearer token that passed every check: its claims and what they mean.
public struct ValidatedToken: Sendable {
    /// Every claim of the payload.
    public var claims: [String: JSONValue]
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
    public var notBefore: Date?
    /// From the role claims, deduplicated, order kept.
    public var roles: [String]
    /// From the scope claims (`scp` is space-separated), deduplicated, order kept.
    public var scopes: [String]
    /// `cnf["x5t#S256"]` (RFC 8705): the thumbprint of the client certificate a certificate-bound token belongs to.
    public var confirmationThumbprint: String?

    public init(claims: [String: JSONValue], issuer: String, subject: String?, audiences: [String], clientID: String?,
                tenantID: String?, tokenID: String?, keyID: String, algorithm: JWSAlgorithm, expiresAt: Date,
                notBefore: Date?, roles: [String], scopes: [String], confirmationThumbprint: String?) {
        self.claims = claims
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
