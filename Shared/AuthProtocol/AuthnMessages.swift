import Foundation
import WireFormat

// MARK: - authn wire types (README)

/// How a caller authenticated, as `authentication_method` and `X-Auth-Method` carry it.
public enum AuthenticationMethod: String, Codable, Sendable {
    case oidc
    case mtls
    case session
    /// A request without credentials under `CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI=true`: the suite's service
    /// identity signed in for it, with only the roles configured for anonymous callers.
    case anonymous
}

/// Answer of `GET /v2/authentication/me`, `POST /v1/authenticate`.
public struct PrincipalResponse: Codable, Sendable, Equatable {
    public var principal: String
    public var authenticationMethod: AuthenticationMethod
    public var clientID: String?
    public var tenantID: String?
    /// Roles: from the token's role claims, the mTLS default roles, and what roles resolved.
    public var roles: [String]
    /// Everything the caller may do: roles plus scopes (`SCOPE_...` style is not used; scopes appear as given).
    public var authorities: [String]
    /// RFC 3339; when the token, certificate or session stops being valid.
    public var expiresAt: String?

    public init(principal: String, authenticationMethod: AuthenticationMethod, clientID: String? = nil,
                tenantID: String? = nil, roles: [String], authorities: [String], expiresAt: String? = nil) {
        self.principal = principal
        self.authenticationMethod = authenticationMethod
        self.clientID = clientID
        self.tenantID = tenantID
        self.roles = roles
        self.authorities = authorities
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case principal, roles, authorities
        case authenticationMethod = "authentication_method"
        case clientID = "client_id"
        case tenantID = "tenant_id"
        case expiresAt = "expires_at"
    }
}

/// Body of `POST /v1/authenticate`: `token` (with `certificate_chain_pem` when the caller's client presented a
/// certificate, for certificate-bound tokens), or `certificate_chain_pem` alone.
public struct AuthenticateRequest: Codable, Sendable, Equatable {
    public var token: String?
    /// Leaf first, then intermediates, PEM.
    public var certificateChainPEM: String?

    public init(token: String? = nil, certificateChainPEM: String? = nil) {
        self.token = token
        self.certificateChainPEM = certificateChainPEM
    }

    enum CodingKeys: String, CodingKey {
        case token
        case certificateChainPEM = "certificate_chain_pem"
    }
}

// MARK: - roles wire types used by authn

/// Body of `POST /v1/resolve` (roles; callable by authn only).
public struct ResolveRequest: Codable, Sendable, Equatable {
    /// The validated token's claims, when the caller used a token.
    public var claims: [String: JSONValue]?
    /// The client certificate's subject as an RFC 4514 string, when the caller used a certificate.
    public var certificateSubject: String?
    /// The client certificate's DNS and URI subjectAltNames (``CertificateSAN/wire``: `DNS:<name>`, `URI:<uri>`).
    public var certificateSANs: [String]?
    /// SHA-256 (lower-case hex) of the SubjectPublicKeyInfo of the CA certificate that issued the client certificate,
    /// from the validated chain; absent when the client certificate is itself a trust anchor.
    public var certificateIssuerSPKISHA256: String?

    public init(claims: [String: JSONValue]? = nil, certificateSubject: String? = nil,
                certificateSANs: [String]? = nil, certificateIssuerSPKISHA256: String? = nil) {
        self.claims = claims
        self.certificateSubject = certificateSubject
        self.certificateSANs = certificateSANs
        self.certificateIssuerSPKISHA256 = certificateIssuerSPKISHA256
    }

    enum CodingKeys: String, CodingKey {
        case claims
        case certificateSubject = "certificate_subject"
        case certificateSANs = "certificate_sans"
        case certificateIssuerSPKISHA256 = "certificate_issuer_spki_sha256"
    }
}

/// Answer of `POST /v1/resolve`.
public struct ResolveResponse: Codable, Sendable, Equatable {
    /// Role ids granted, sorted.
    public var roles: [String]
    /// Ids of the mapping rules that matched, sorted.
    public var mappingRules: [String]

    public init(roles: [String], mappingRules: [String]) {
        self.roles = roles
        self.mappingRules = mappingRules
    }

    enum CodingKeys: String, CodingKey {
        case roles
        case mappingRules = "mapping_rules"
    }
}

/// RFC 9457 problem details, the error body of `/v2` management paths.
public struct ProblemDetails: Codable, Sendable, Equatable, Error {
    public static let contentType = "application/problem+json"

    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var instance: String?
    /// The request field at fault, when one is.
    public var field: String?
    /// authn's short code for why a caller was refused (as in ``OAuthErrorResponse/reason``).
    public var reason: String?

    public init(type: String = "about:blank", title: String, status: Int, detail: String,
                instance: String? = nil, field: String? = nil) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.instance = instance
        self.field = field
    }
}

/// Paths of authn and roles.
extension ProtocolPath {
    public static let me = "/v2/authentication/me"
    public static let forwardAuth = "/v1/forward-auth"
    public static let authenticate = "/v1/authenticate"
    public static let resolve = "/v1/resolve"
    public static let auditLog = "/v2/audit-log"
}

extension ProtocolHeader {
    /// A client certificate forwarded by a trusted proxy (URL-escaped PEM, nginx's `$ssl_client_escaped_cert`).
    public static let sslClientCert = "X-SSL-Client-Cert"
    /// Which credential the caller used, for audit trails: `x5t#S256=<thumbprint>` or `jti=<id>; kid=<kid>`. Never a secret.
    public static let authCredential = "X-Auth-Credential"
}
