import Foundation

// MARK: - token-issuer wire types (DESIGN.md §4)

/// Body of `POST /v1/token`.
public struct TokenRequest: Codable, Sendable, Equatable {
    /// The scope to request; the issuer's configured scope when absent.
    public var scope: String?

    public init(scope: String? = nil) {
        self.scope = scope
    }
}

/// Successful answer of `POST /v1/token`.
public struct TokenResponse: Codable, Sendable, Equatable {
    public var accessToken: String
    public var tokenType: String
    /// Seconds until the token expires, counted from the moment of the answer.
    public var expiresIn: Int
    /// RFC 3339 timestamp of the token's expiry.
    public var expiresAt: String
    public var scope: String

    public init(accessToken: String, tokenType: String = "Bearer", expiresIn: Int, expiresAt: String, scope: String) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.expiresAt = expiresAt
        self.scope = scope
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case expiresAt = "expires_at"
        case scope
    }
}

/// Body of `POST /v1/client-assertion`.
public struct ClientAssertionRequest: Codable, Sendable, Equatable {
    /// The `aud` of the assertion; the configured token endpoint when absent.
    public var audience: String?

    public init(audience: String? = nil) {
        self.audience = audience
    }
}

/// Answer of `POST /v1/client-assertion`.
public struct ClientAssertionResponse: Codable, Sendable, Equatable {
    public static let jwtBearerType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    public var clientAssertion: String
    public var clientAssertionType: String
    public var expiresAt: String

    public init(clientAssertion: String, clientAssertionType: String = Self.jwtBearerType, expiresAt: String) {
        self.clientAssertion = clientAssertion
        self.clientAssertionType = clientAssertionType
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case clientAssertion = "client_assertion"
        case clientAssertionType = "client_assertion_type"
        case expiresAt = "expires_at"
    }
}

/// One loaded certificate as `GET /v1/credentials` lists it. Never key material.
public struct CredentialInfo: Codable, Sendable, Equatable {
    public var alias: String
    public var subject: String
    public var issuer: String
    public var notBefore: String
    public var notAfter: String
    public var x5t: String
    public var x5tS256: String
    public var algorithm: String
    /// True for the certificate that signs new assertions.
    public var active: Bool
    /// Where it comes from: `current` (the keystore settings), `next` (the `…_NEXT_…` settings), or `retained` (no
    /// longer on disk, kept in memory until a newer certificate is accepted or its key is removed at the IdP).
    public var slot: String?
    /// What the IdP said about it: `accepted` (a token exchange succeeded), `refused` (a certificate-class refusal,
    /// e.g. AADSTS700027), `untried`, `registered` (added with Graph addKey, not yet used), `removed` (removeKey).
    public var idpStatus: String?

    public init(alias: String, subject: String, issuer: String, notBefore: String, notAfter: String,
                x5t: String, x5tS256: String, algorithm: String, active: Bool, slot: String? = nil, idpStatus: String? = nil) {
        self.slot = slot
        self.idpStatus = idpStatus
        self.alias = alias
        self.subject = subject
        self.issuer = issuer
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.x5t = x5t
        self.x5tS256 = x5tS256
        self.algorithm = algorithm
        self.active = active
    }

    enum CodingKeys: String, CodingKey {
        case alias, subject, issuer, algorithm, active, x5t, slot
        case idpStatus = "idp_status"
        case notBefore = "not_before"
        case notAfter = "not_after"
        case x5tS256 = "x5t#S256"
    }
}

/// Answer of `GET /v1/credentials`.
public struct CredentialsResponse: Codable, Sendable, Equatable {
    public var credentials: [CredentialInfo]

    public init(credentials: [CredentialInfo]) {
        self.credentials = credentials
    }
}

/// The OAuth-style error body used on token paths (RFC 6749 §5.2 plus Entra's fields and an operator hint).
public struct OAuthErrorResponse: Codable, Sendable, Equatable, Error {
    public var error: String
    public var errorDescription: String
    /// Entra's AADSTS codes, when the IdP gave any.
    public var errorCodes: [Int]?
    public var traceID: String?
    public var correlationID: String?
    /// What the operator should do about it.
    public var hint: String?
    /// authn's short code for why a caller was refused (`token_expired`, `certificate_untrusted`, …; the `reason`
    /// label of `certauth_authn_decisions_total`).
    public var reason: String?

    public init(error: String, errorDescription: String, errorCodes: [Int]? = nil,
                traceID: String? = nil, correlationID: String? = nil, hint: String? = nil) {
        self.error = error
        self.errorDescription = errorDescription
        self.errorCodes = errorCodes
        self.traceID = traceID
        self.correlationID = correlationID
        self.hint = hint
    }

    enum CodingKeys: String, CodingKey {
        case error, hint, reason
        case errorDescription = "error_description"
        case errorCodes = "error_codes"
        case traceID = "trace_id"
        case correlationID = "correlation_id"
    }
}
