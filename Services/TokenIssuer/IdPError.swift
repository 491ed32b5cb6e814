import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import ServiceSupport

/// An error body as Entra (and most OAuth servers) send it.
public struct IdPErrorBody: Decodable, Sendable, Equatable {
    public var error: String
    public var errorDescription: String?
    public var errorCodes: [Int]?
    public var traceID: String?
    public var correlationID: String?

    enum CodingKeys: String, CodingKey {
        case error
        case errorDescription = "error_description"
        case errorCodes = "error_codes"
        case traceID = "trace_id"
        case correlationID = "correlation_id"
    }
}

/// What kind of failure an IdP answer is, which decides retrying and the operator hint.
public enum IdPFailureKind: String, Sendable, Equatable {
    /// The certificate or the assertion was refused: reload the keystore and retry once with a fresh assertion.
    case certificate
    /// Configuration is wrong (client id, tenant, scope…): retrying won't help.
    case configuration
    /// 429: retry after `Retry-After`.
    case throttled
    /// 5xx: retry with backoff.
    case server
    /// Anything else the IdP refused.
    case other
}

/// Classifies IdP error answers by `error` and `error_codes` (never by parsing `error_description`).
public enum IdPErrorClassifier {
    /// Entra codes where the certificate or assertion was refused.
    public static let certificateCodes: Set<Int> = [700027, 700024, 7000274, 1000502, 7000214, 7000277]
    /// Entra codes that mean a configuration problem.
    public static let configurationCodes: Set<Int> = [
        700016, 90002, 70011, 700021, 700023, 500011, 7000215, 7000222, 7000218, 50027, 5002730, 700025, 900144, 70003,
    ]

    /// The kind of failure for an HTTP `status` and the parsed body.
    public static func kind(status: Int, body: IdPErrorBody?) -> IdPFailureKind {
        if status == 429 { return .throttled }
        let codes = Set(body?.errorCodes ?? [])
        if !codes.isDisjoint(with: certificateCodes) { return .certificate }
        if !codes.isDisjoint(with: configurationCodes) { return .configuration }
        if status >= 500 { return .server }
        switch body?.error {
        case "invalid_client": return codes.isEmpty ? .certificate : .other
        case "invalid_scope", "invalid_request", "unauthorized_client", "unsupported_grant_type", "invalid_resource":
            return .configuration
        case "temporarily_unavailable": return .server
        default: return .other
        }
    }

    /// What the operator should do, for the codes in `body` (first known code wins).
    public static func hint(status: Int, body: IdPErrorBody?, context: HintContext) -> String {
        if status < 500, body?.error == "invalid_client" || body?.error == "unauthorized_client" {
            switch context.method {
            case .tlsClientAuth:
                return "The IdP refused the client certificate for client '\(context.clientID)' (tls_client_auth, subject '\(context.subject)', x5t#S256=\(context.x5tS256)): check that the IdP client uses X.509 certificate authentication with a subject DN matching this certificate (or, with a shared intermediary, one of its chain), that the IdP trusts the certificate's CA chain, and that nothing between token-issuer and the IdP terminates TLS (see error_description)."
            case .clientSecretBasic, .clientSecretPost:
                return "The IdP refused the client secret of client '\(context.clientID)' (\(context.method.rawValue)): check CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET and which of client_secret_basic or client_secret_post the IdP client expects; better, migrate to private_key_jwt or tls_client_auth."
            case .privateKeyJWT:
                break
            }
        }
        for code in body?.errorCodes ?? [] {
            if let hint = hint(code: code, context: context) { return hint }
        }
        if status == 429 {
            return "The IdP is throttling token requests (429); token-issuer retries after Retry-After and serves cached tokens meanwhile. If it persists, lower the number of distinct scopes or replicas requesting tokens."
        }
        if status >= 500 {
            return "The IdP answered \(status) (a server-side failure at \(context.idpHost)); token-issuer retried with backoff. Check the IdP's status; cached tokens keep being served until they expire."
        }
        switch body?.error {
        case "invalid_client":
            return "The IdP refused the client credentials for client '\(context.clientID)': check that the certificate (x5t#S256=\(context.x5tS256)) is registered for this client and that the keystore holds its private key."
        case "invalid_scope":
            return "The IdP refused the scope '\(context.scope)': request a scope the client is allowed, for Entra '<resource client id>/.default'."
        case "unauthorized_client":
            return "The client '\(context.clientID)' may not use the client_credentials grant at the IdP; enable service accounts / client credentials for it."
        default:
            return "The IdP refused the token request (error '\(body?.error ?? "HTTP \(status)")'); see error_description, and look up trace_id and correlation_id in the IdP's sign-in logs."
        }
    }

    /// Values that make a hint concrete. None of them is secret.
    public struct HintContext: Sendable {
        public var clientID: String
        public var tenant: String
        public var scope: String
        public var x5t: String
        public var x5tS256: String
        public var idpHost: String
        /// The client authentication method in use.
        public var method: ClientAuthenticationMethod
        /// The client certificate's subject (certificate methods), for messages.
        public var subject: String

        public init(clientID: String, tenant: String, scope: String, x5t: String, x5tS256: String, idpHost: String,
                    method: ClientAuthenticationMethod = .privateKeyJWT, subject: String = "") {
            self.method = method
            self.subject = subject
            self.clientID = clientID
            self.tenant = tenant
            self.scope = scope
            self.x5t = x5t
            self.x5tS256 = x5tS256
            self.idpHost = idpHost
        }
    }

    static func hint(code: Int, context c: HintContext) -> String? {
        switch code {
        case 700027:
            return "Entra does not accept the certificate that signed the assertion (x5t=\(c.x5t), x5t#S256=\(c.x5tS256)) for client '\(c.clientID)': upload that certificate (.cer) under Certificates & secrets of the app registration, or point CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH at the keystore of the registered certificate."
        case 700024:
            return "The assertion was outside its valid time at Entra: this host's clock is off. Synchronise it (NTP); token-issuer already retried once with a fresh assertion."
        case 7000274:
            return "Entra could not verify the assertion's signature: the keystore's private key does not belong to the registered certificate (x5t#S256=\(c.x5tS256)), or the algorithm is refused; check the keystore, or try CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ALGORITHM=RS256."
        case 1000502:
            return "The certificate (x5t#S256=\(c.x5tS256)) is outside its validity period: issue a new certificate, upload it to the app registration and replace the keystore file (token-issuer reloads it without a restart)."
        case 7000214, 7000277:
            return "The certificate (x5t#S256=\(c.x5tS256)) has been revoked: issue a new certificate, upload it to the app registration and replace the keystore file."
        case 700016:
            return "Entra found no application '\(c.clientID)' in tenant '\(c.tenant)': check CAMUNDA_IDENTITY_CLIENT_ID and the tenant id in CAMUNDA_IDENTITY_ISSUER_BACKEND_URL, and that the app is registered (or consented) in that tenant."
        case 90002:
            return "Entra does not know tenant '\(c.tenant)': check the tenant id in CAMUNDA_IDENTITY_ISSUER_BACKEND_URL (or CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI)."
        case 70011:
            return "Entra refused the scope '\(c.scope)': for client credentials it must be exactly one '<resource client id or app ID URI>/.default'; fix CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES or the scope in the request."
        case 500011:
            return "The resource in scope '\(c.scope)' was not found in tenant '\(c.tenant)': check the resource's client id or app ID URI, and that the API app exists in this tenant."
        case 700021:
            return "Entra says the assertion's iss/sub differ from client_id: check CAMUNDA_IDENTITY_CLIENT_ID."
        case 700023:
            return "Entra says the assertion's audience is not its token endpoint: check CAMUNDA_IDENTITY_ISSUER_BACKEND_URL or CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI points at https://login.microsoftonline.com/<tenant>/ (v2.0)."
        case 7000215, 7000222:
            return "Entra refused the client secret (invalid or expired): switch to the certificate credential, or renew the secret."
        case 7000218:
            return "Entra received neither a client assertion nor a secret: check that a proxy does not strip the request body."
        case 50027:
            return "Entra found the assertion malformed: this is a token-issuer bug or a proxy rewriting the body; report it with trace_id and correlation_id."
        case 5002730:
            return "Entra does not support the key for the algorithm: set CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ALGORITHM=RS256 (token-issuer already fell back once)."
        default:
            return nil
        }
    }
}

/// Why a token could not be issued: the body and status token-issuer answers its caller with.
public struct TokenIssuanceError: Error, Sendable, CustomStringConvertible {
    /// HTTP status for the internal caller.
    public var statusCode: Int
    public var body: OAuthErrorResponse
    /// Seconds the caller should wait, when known.
    public var retryAfter: Int?

    public init(status: Int, body: OAuthErrorResponse, retryAfter: Int? = nil) {
        self.statusCode = status
        self.body = body
        self.retryAfter = retryAfter
    }

    public var description: String {
        "\(body.error): \(body.errorDescription)" + (body.hint.map { " Hint: \($0)" } ?? "")
    }

    /// The IdP could not be reached (network, TLS, timeout, discovery).
    static func unreachable(idp: String, reason: String) -> TokenIssuanceError {
        TokenIssuanceError(
            status: 503,
            body: OAuthErrorResponse(
                error: "temporarily_unavailable",
                errorDescription: "The identity provider at \(idp) is unreachable: \(reason)",
                hint: "The IdP (\(idp)) is unreachable from token-issuer: check DNS, network policy/firewall and proxy settings towards it, and its TLS certificate (CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH for a private CA). Cached tokens are served until they expire; issuance resumes by itself when the IdP answers again."),
            retryAfter: 5)
    }
}

/// The routes throw it; the answer is the OAuth error body with its status (and `Retry-After`, a 401's
/// `WWW-Authenticate`), as ``JSONResponse/oauthError(_:_:retryAfter:)`` writes every OAuth error.
extension TokenIssuanceError: ServiceResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.oauthError(status, body, retryAfter: retryAfter)
    }

    /// A refusal of the caller's request (no retry hint).
    init(_ status: HTTPResponse.Status, _ body: OAuthErrorResponse) {
        self.init(status: status.code, body: body)
    }
}
