import JOSE

/// Why a bearer token (or the key set behind it) was refused. `message` names the cause and the fix and never
/// contains the token; claim values (`iss`, `aud`, `kid`) may appear.
public struct TokenValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, for code to branch on (and for metrics: low cardinality).
    public enum Code: String, Sendable {
        case malformed, tooLarge, unsupportedAlgorithm, missingKeyID, unknownKeyID, algorithmKeyMismatch,
             invalidSignature, criticalHeader, invalidIssuer, invalidAudience, expired, missingExpiry,
             notYetValid, keysUnavailable,
             /// `exp` further from now (or from `iat`) than the maximum token lifetime.
             lifetimeTooLong,
             /// A `typ` header that is not an access token's, or an ID token (by its claims).
             wrongTokenType,
             /// Multi-tenant issuer: `tid` missing, not allowed, or not the tenant of `iss`.
             invalidTenant
    }

    public var code: Code
    /// Cause and fix in a sentence or two, for operators and `error_description`.
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A refusal of the JWS reader (``StrictJWS``) or of a key: the same code and the same message.
    public init(_ error: JWSError) {
        // A switch, not the raw value: a new reader code must be given its validator code here (the compiler says so)
        // rather than silently becoming `malformed`.
        let code: Code
        switch error.code {
        case .malformed: code = .malformed
        case .tooLarge: code = .tooLarge
        case .unsupportedAlgorithm: code = .unsupportedAlgorithm
        case .algorithmKeyMismatch: code = .algorithmKeyMismatch
        case .invalidSignature: code = .invalidSignature
        case .criticalHeader: code = .criticalHeader
        }
        self.init(code, error.message)
    }
}

/// Where the settings come from, for messages that tell the operator what to change.
enum SettingName {
    static let issuer = "CAMUNDA_IDENTITY_ISSUER"
    static let audience = "CAMUNDA_IDENTITY_AUDIENCE"
    static let jwkSetURI = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI"
    static let identityType = "CAMUNDA_IDENTITY_TYPE"
    static let maxTokenLifetime = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_TOKEN_LIFETIME"
    static let allowedTenants = "CAMUNDA_IDENTITY_ALLOWED_TENANTS"
}
