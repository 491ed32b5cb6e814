/// The names of log metadata keys (and of the span attributes that say the same thing), one place for the suite:
/// dotted and lower case, as OpenTelemetry names attributes.
/// An OpenTelemetry semantic-convention name where one exists (`http.route`, `error.type`, `server.address`,
/// `url.full`, `db.system`, `service.name`, `file.path`); otherwise `<area>.<name>` (`oauth.scope`, `keystore.slot`,
/// `certificate.x5t_s256`). `trace_id` and `span_id` are the OpenTelemetry log record's own fields, not attributes,
/// and keep their names. Every log call uses these constants, never a string literal (`Tests/ArchitectureTests` checks
/// it); the table of keys an operator sees is in docs/operations.md ("Log fields"). HTTPServing, which cannot import
/// this module, has its own `LogKey` for its two keys, under the same rule.
public enum LogKey {
    // MARK: OpenTelemetry log record fields
    public static let traceID = "trace_id"
    public static let spanID = "span_id"

    // MARK: OpenTelemetry semantic conventions
    public static let httpRoute = "http.route"
    /// The Swift type of an error (swift-log's `error:` argument is written as `error.type` and `error.message`).
    public static let errorType = "error.type"
    public static let errorMessage = "error.message"
    public static let serverAddress = "server.address"
    public static let serverPort = "server.port"
    public static let urlFull = "url.full"
    public static let filePath = "file.path"
    public static let dbSystem = "db.system"
    public static let serviceName = "service.name"
    public static let httpStatusCode = "http.response.status_code"

    // MARK: Listeners and peers
    public static let managementPort = "server.management_port"
    public static let listener = "server.listener"
    /// The TLS client-certificate mode of a listener (`SERVER_SSL_CLIENT_AUTH`).
    public static let tlsClientAuth = "tls.client_auth"
    /// The thumbprint of the client certificate presented in the TLS handshake.
    public static let tlsClientX5tS256 = "tls.client.x5t_s256"
    public static let tlsFiles = "tls.files"
    public static let peerService = "peer.service"
    public static let peerRetryAfterMilliseconds = "peer.retry_after_ms"
    public static let proxyURL = "proxy.url"
    public static let proxyBypass = "proxy.no_proxy"
    public static let otlpEndpoint = "otlp.endpoint"
    public static let otlpProtocol = "otlp.protocol"

    // MARK: Configuration
    /// The environment variable a line is about.
    public static let configVariable = "config.variable"

    // MARK: Callers and grants
    public static let caller = "auth.caller"
    /// Why a calling service was refused before its request was read.
    public static let callerRefusal = "auth.caller_refusal"
    public static let allowedCallers = "auth.allowed_callers"
    public static let principal = "auth.principal"
    public static let method = "auth.method"
    public static let credential = "auth.credential"
    public static let roles = "auth.roles"
    public static let securityEvent = "security.event"
    public static let roleName = "role.name"
    public static let roleID = "role.id"
    public static let roleSource = "role.source"
    public static let roleProblem = "role.problem"
    public static let mappingRuleID = "mapping_rule.id"
    public static let claimName = "claim.name"
    /// Where a grant comes from (a bootstrap claim, a setting).
    public static let grantSource = "grant.source"

    // MARK: authn
    /// authn's short code of a refusal (the body's `reason`, the decisions metric's label).
    public static let authnReason = "authn.reason"
    /// authn's sentence for a refusal (the body's `error_description`/`detail`).
    public static let authnDescription = "authn.description"
    public static let authnBearer = "authn.bearer"
    public static let authnMTLS = "authn.mtls"
    public static let authnRolesURL = "authn.roles_url"
    public static let authnSessions = "authn.sessions"
    public static let authnTokenIssuer = "authn.token_issuer"
    public static let authnAnonymousRoles = "authn.anonymous_roles"
    public static let jwksSource = "jwks.source"
    public static let jwksReason = "jwks.reason"
    public static let jwksKeyCount = "jwks.key_count"
    public static let jwksAdded = "jwks.added"
    public static let jwksRemoved = "jwks.removed"
    public static let crlFiles = "crl.files"
    public static let sessionID = "session.id_prefix"
    public static let sessionExpiresAt = "session.expires_at"
    public static let sessionCount = "session.count"

    // MARK: roles
    public static let rolesMappingRules = "roles.mapping_rules"
    public static let rolesRoles = "roles.roles"
    public static let rolesVersion = "roles.version"
    public static let dbLocation = "db.location"
    public static let dbMigrations = "db.migrations"

    // MARK: OAuth, tokens, IdPs
    public static let clientID = "oauth.client_id"
    public static let scope = "oauth.scope"
    public static let clientAuthentication = "oauth.client_auth"
    public static let oauthError = "oauth.error"
    public static let oauthErrorCodes = "oauth.error_codes"
    public static let expiresIn = "oauth.expires_in"
    public static let refreshIn = "oauth.refresh_in"
    public static let idpURL = "idp.url"
    public static let idpReason = "idp.reason"
    /// The attempt of a token request (1 for the first).
    public static let idpAttempt = "idp.attempt"
    public static let idpTraceID = "idp.trace_id"
    public static let idpCorrelationID = "idp.correlation_id"
    public static let retryDelayMilliseconds = "retry.delay_ms"
    public static let oidcTokenEndpoint = "oidc.token_endpoint"
    public static let oidcMTLSTokenEndpoint = "oidc.mtls_token_endpoint"
    public static let oidcIssuer = "oidc.issuer"
    public static let jwtID = "jwt.jti"
    public static let jwtKeyID = "jwt.kid"
    public static let jwtAudience = "jwt.audience"
    public static let assertionFile = "assertion.file"
    public static let assertionAudience = "assertion.audience"

    // MARK: Credentials
    public static let keystorePath = "keystore.path"
    public static let keystoreSlot = "keystore.slot"
    public static let keystoreReason = "keystore.reason"
    public static let certificateSubject = "certificate.subject"
    public static let certificateNotAfter = "certificate.not_after"
    public static let certificateX5t = "certificate.x5t"
    public static let certificateX5tS256 = "certificate.x5t_s256"
    public static let certificateSHA1 = "certificate.sha1"
    public static let previousX5tS256 = "certificate.previous.x5t_s256"
    public static let nextX5tS256 = "certificate.next.x5t_s256"
    /// The certificate that signed a Graph proof of possession.
    public static let proofX5tS256 = "proof.x5t_s256"

    // MARK: Key rotation at Entra (Microsoft Graph)
    public static let graphURL = "graph.url"
    public static let graphKeyID = "graph.key_id"
    public static let graphErrorCode = "graph.error.code"
    public static let graphErrorMessage = "graph.error.message"
    public static let applicationObjectID = "application.object_id"
    public static let rotationStep = "rotation.step"
    public static let rotationNote = "rotation.note"
    public static let rotationRetryAt = "rotation.retry_at"
    public static let rotationGracePeriodSeconds = "rotation.grace_period_s"

    // MARK: entra-emulator
    public static let entraTenantID = "entra.tenant_id"
    public static let entraApps = "entra.apps"
    public static let entraAADSTS = "entra.aadsts"
    public static let entraFederatedCredential = "entra.federated_credential"

}
