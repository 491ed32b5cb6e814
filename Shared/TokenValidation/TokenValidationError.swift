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

/// The names of the settings behind a validator, for messages that tell the operator what to change. The library reads
/// no environment: the caller names its settings (authn its `CAMUNDA_*` variables, `certauth decode-token` its flags);
/// the default describes each setting in words.
public struct TokenValidationSettingNames: Sendable, Equatable {
    /// The accepted issuers (`iss`).
    public var issuer: String
    /// The accepted audiences (`aud`).
    public var audience: String
    /// Where the signing keys (JWKS) come from.
    public var jwkSetURI: String
    /// The IdP kind (Entra's extra issuer forms).
    public var identityType: String
    /// The longest accepted token lifetime.
    public var maxTokenLifetime: String
    /// The tenants a multi-tenant issuer accepts.
    public var allowedTenants: String

    public init(issuer: String, audience: String, jwkSetURI: String, identityType: String,
                maxTokenLifetime: String, allowedTenants: String) {
        self.issuer = issuer
        self.audience = audience
        self.jwkSetURI = jwkSetURI
        self.identityType = identityType
        self.maxTokenLifetime = maxTokenLifetime
        self.allowedTenants = allowedTenants
    }

    /// Each setting in words, for callers without settings of their own (tests, the bench).
    public static let described = TokenValidationSettingNames(
        issuer: "the accepted issuer setting", audience: "the accepted audience setting",
        jwkSetURI: "the JWKS URI setting", identityType: "the IdP type setting",
        maxTokenLifetime: "the maximum token lifetime setting", allowedTenants: "the allowed tenants setting")
}
