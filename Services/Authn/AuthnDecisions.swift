import AuthProtocol
import CertificateValidation
import Prometheus
import ServiceSupport
import TokenValidation

/// Why authn let a caller in or not, as one short code: the `reason` field of a 401/403/503 body and the `reason`
/// label of `certauth_authn_decisions_total`. One code per kind of refusal, so an alert or a dashboard can tell an
/// expired token from a wrong audience or an untrusted certificate without reading log text.
public enum AuthnReason: String, CaseIterable, Sendable {
    case ok
    // No credentials at all.
    case credentialsMissing = "credentials_missing"
    // Bearer tokens (method oidc).
    case authorizationSchemeUnsupported = "authorization_scheme_unsupported"
    case tokenNotAccepted = "token_not_accepted"
    case tokenMalformed = "token_malformed"
    case tokenTooLarge = "token_too_large"
    case tokenAlgorithmUnsupported = "token_algorithm_unsupported"
    case tokenKeyIDMissing = "token_kid_missing"
    case tokenKeyIDUnknown = "token_kid_unknown"
    case tokenAlgorithmKeyMismatch = "token_algorithm_key_mismatch"
    case tokenSignatureInvalid = "token_signature_invalid"
    case tokenCriticalHeader = "token_critical_header"
    case tokenIssuerInvalid = "token_issuer_invalid"
    case tokenAudienceInvalid = "token_audience_invalid"
    case tokenExpired = "token_expired"
    case tokenExpiryMissing = "token_exp_missing"
    case tokenNotYetValid = "token_not_yet_valid"
    case tokenLifetimeTooLong = "token_lifetime_too_long"
    case tokenTypeWrong = "token_type_wrong"
    case tokenTenantInvalid = "token_tenant_invalid"
    case tokenPrincipalMissing = "token_principal_missing"
    case tokenCertificateMissing = "token_certificate_missing"
    case tokenCertificateMismatch = "token_certificate_mismatch"
    case jwksUnavailable = "jwks_unavailable"
    // Client certificates (method mtls).
    case certificateNotAccepted = "certificate_not_accepted"
    case certificateMalformed = "certificate_malformed"
    case certificateMissing = "certificate_missing"
    case certificateUntrusted = "certificate_untrusted"
    case certificateExpired = "certificate_expired"
    case certificateNotYetValid = "certificate_not_yet_valid"
    case certificateWrongPurpose = "certificate_wrong_purpose"
    case certificateInvalidCA = "certificate_invalid_ca"
    case certificateRevoked = "certificate_revoked"
    case certificateRevocationUnknown = "certificate_revocation_unknown"
    case certificateInvalid = "certificate_invalid"
    case certificatePrincipalMissing = "certificate_principal_missing"
    case forwardedCertificateNotFromProxy = "forwarded_certificate_not_from_proxy"
    // The calling service of POST /v1/authenticate (method mtls).
    case callerTrustStoreMissing = "caller_trust_store_missing"
    case callerCertificateMissing = "caller_certificate_missing"
    case callerCertificateInvalid = "caller_certificate_invalid"
    case callerIdentityMissing = "caller_identity_missing"
    case callerNotAllowed = "caller_not_allowed"
    // Sessions and the unprotected-API sign-in.
    case sessionStoreUnavailable = "session_store_unavailable"
    case signInUnavailable = "sign_in_unavailable"
    // After authentication, any method.
    case roleMissing = "role_missing"
    case rolesUnavailable = "roles_unavailable"
    case principalUnencodable = "principal_unencodable"

    /// The credential method a code belongs to; nil for codes any method can end in.
    var method: AuthnDecisions.Method? {
        switch self {
        case .ok, .roleMissing, .rolesUnavailable, .principalUnencodable: nil
        case .credentialsMissing: AuthnDecisions.Method.none
        case .sessionStoreUnavailable: .session
        case .signInUnavailable: .anonymous
        default: rawValue.hasPrefix("token_") || self == .authorizationSchemeUnsupported || self == .jwksUnavailable ? .oidc : .mtls
        }
    }

    /// The code of a token validation failure.
    static func token(_ code: TokenValidationError.Code) -> AuthnReason {
        switch code {
        case .malformed: .tokenMalformed
        case .tooLarge: .tokenTooLarge
        case .unsupportedAlgorithm: .tokenAlgorithmUnsupported
        case .missingKeyID: .tokenKeyIDMissing
        case .unknownKeyID: .tokenKeyIDUnknown
        case .algorithmKeyMismatch: .tokenAlgorithmKeyMismatch
        case .invalidSignature: .tokenSignatureInvalid
        case .criticalHeader: .tokenCriticalHeader
        case .invalidIssuer: .tokenIssuerInvalid
        case .invalidAudience: .tokenAudienceInvalid
        case .expired: .tokenExpired
        case .missingExpiry: .tokenExpiryMissing
        case .notYetValid: .tokenNotYetValid
        case .keysUnavailable: .jwksUnavailable
        case .lifetimeTooLong: .tokenLifetimeTooLong
        case .wrongTokenType: .tokenTypeWrong
        case .invalidTenant: .tokenTenantInvalid
        }
    }

    /// The code of a certificate validation failure.
    static func certificate(_ code: CertificateValidationError.Code) -> AuthnReason {
        switch code {
        case .malformed: .certificateMalformed
        case .emptyChain: .certificateMissing
        case .untrusted: .certificateUntrusted
        case .expired: .certificateExpired
        case .notYetValid: .certificateNotYetValid
        case .wrongPurpose: .certificateWrongPurpose
        case .invalidCA: .certificateInvalidCA
        case .revoked: .certificateRevoked
        case .revocationUnknown: .certificateRevocationUnknown
        case .other: .certificateInvalid
        }
    }
}

/// `certauth_authn_decisions_total{method,result,reason}`: one increment per answer authn gives about a caller
/// (`/v2/authentication/me`, `/v1/forward-auth`, `/v1/authenticate`, `/v2/**`). The counters for every code with
/// its method are made at start (they show as 0), and found on the request path in an immutable dictionary: no lock,
/// no swift-metrics `Counter` built per request (issue 16's request path).
struct AuthnDecisions: Sendable {
    enum Method: String, CaseIterable, Sendable {
        case oidc, mtls, session, anonymous, none
    }

    enum Result: String, Sendable {
        case accepted, unauthenticated, forbidden, unavailable
    }

    struct Key: Hashable, Sendable {
        var method: Method
        var result: Result
        var reason: AuthnReason
    }

    static let name = "certauth_authn_decisions_total"

    private let counters: PrecreatedCounters<Key>

    init(metrics: PrometheusCollectorRegistry) {
        var keys: [Key] = []
        let credentialMethods: [Method] = [.oidc, .mtls, .session, .anonymous]
        for reason in AuthnReason.allCases {
            let result = Self.result(of: reason)
            for method in reason.method.map({ [$0] }) ?? credentialMethods {
                keys.append(Key(method: method, result: result, reason: reason))
            }
        }
        counters = PrecreatedCounters(registry: metrics, name: Self.name, keys: keys) { key in
            [("method", key.method.rawValue), ("result", key.result.rawValue), ("reason", key.reason.rawValue)]
        }
    }

    /// The result a code stands for when it is not the kind of an ``AuthenticationFailure`` (the refusals answered
    /// without one).
    static func result(of reason: AuthnReason) -> Result {
        switch reason {
        case .ok: .accepted
        case .roleMissing, .callerTrustStoreMissing, .callerCertificateMissing, .callerCertificateInvalid,
             .callerIdentityMissing, .callerNotAllowed: .forbidden
        case .jwksUnavailable, .rolesUnavailable, .sessionStoreUnavailable, .signInUnavailable: .unavailable
        default: .unauthenticated
        }
    }

    func accepted(_ method: AuthenticationMethod) {
        counters.increment(Key(method: Method(method), result: .accepted, reason: .ok))
    }

    func refused(_ failure: AuthenticationFailure) {
        let result: Result = switch failure.kind {
        case .missing, .unauthorized: .unauthenticated
        case .forbidden: .forbidden
        case .unavailable: .unavailable
        }
        counters.increment(Key(method: failure.method ?? failure.code.method ?? .none, result: result, reason: failure.code))
    }

    /// A refusal answered without an ``AuthenticationFailure`` (the internal-caller checks, `/v2` access).
    func refused(_ reason: AuthnReason, method: Method) {
        counters.increment(Key(method: method, result: Self.result(of: reason), reason: reason))
    }
}

extension AuthnDecisions.Method {
    init(_ method: AuthenticationMethod) {
        switch method {
        case .oidc: self = .oidc
        case .mtls: self = .mtls
        case .session: self = .session
        case .anonymous: self = .anonymous
        }
    }
}
