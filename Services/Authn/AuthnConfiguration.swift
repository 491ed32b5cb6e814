import AuthProtocol
import CertificateValidation
import Foundation
import ServiceClient
import ServiceSupport
import Settings
import Storage
import TokenValidation

/// `CAMUNDA_SECURITY_AUTHENTICATION_METHOD`: the seed's mTLS block sets BASIC (certificates only).
public enum AuthenticationMethodSetting: String, Sendable {
    case oidc = "OIDC"
    case basic = "BASIC"
}

/// Bearer-token validation settings (on when an issuer or a JWK set URI is configured).
public struct OIDCSettings: Sendable {
    /// Accepted `iss` values (for MICROSOFT: the v1 and v2 forms of the tenant).
    public var issuers: [String]
    /// The configured issuer, whose discovery document names the JWKS when no JWK set URI is set.
    public var issuer: String?
    public var jwkSetURI: URL?
    public var audiences: [String]
    public var roleClaims: [String]
    public var scopeClaims: [String]
    /// Claim naming the principal; nil: the client id (`azp`/`appid`), else `sub`.
    public var principalClaim: String?
    public var leeway: Duration
    public var jwksRefreshInterval: Duration
    public var jwksMinimumRefreshGap: Duration
    public var jwksFetchTimeout: Duration
    /// Extra CA certificates for HTTPS to the IdP (discovery, JWKS), on top of the system roots.
    public var idpTrustStore: TrustStoreSource?
    public var maxTokenLength: Int
    /// Tokens whose `exp` is further than this from now (or from `iat`) are refused.
    public var maxTokenLifetime: Duration
    /// Multi-tenant issuer (`{tenantid}`, `common`, `organizations`): the tenants whose tokens are accepted.
    public var allowedTenants: [String]
    /// Plain `http://` to the IdP beyond loopback (discovery, JWKS) is allowed (a lab without TLS).
    public var allowInsecureHTTP: Bool
    /// Forward proxies for discovery and JWKS: `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, or
    /// `CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY` for the IdP calls only (as token-issuer); nil: direct.
    public var proxies: (https: EgressProxy?, http: EgressProxy?) = (nil, nil)

    public init(issuers: [String], issuer: String?, jwkSetURI: URL?, audiences: [String],
                roleClaims: [String] = ["roles", "app_roles"], scopeClaims: [String] = ["scp"], principalClaim: String? = nil,
                leeway: Duration = .seconds(60), jwksRefreshInterval: Duration = .seconds(86_400),
                jwksMinimumRefreshGap: Duration = .seconds(10), jwksFetchTimeout: Duration = .seconds(5),
                idpTrustStore: TrustStoreSource? = nil, maxTokenLength: Int = 16 * 1024,
                maxTokenLifetime: Duration = .seconds(86_400), allowedTenants: [String] = [], allowInsecureHTTP: Bool = false) {
        self.issuers = issuers
        self.issuer = issuer
        self.jwkSetURI = jwkSetURI
        self.audiences = audiences
        self.roleClaims = roleClaims
        self.scopeClaims = scopeClaims
        self.principalClaim = principalClaim
        self.leeway = leeway
        self.jwksRefreshInterval = jwksRefreshInterval
        self.jwksMinimumRefreshGap = jwksMinimumRefreshGap
        self.jwksFetchTimeout = jwksFetchTimeout
        self.idpTrustStore = idpTrustStore
        self.maxTokenLength = maxTokenLength
        self.maxTokenLifetime = maxTokenLifetime
        self.allowedTenants = allowedTenants
        self.allowInsecureHTTP = allowInsecureHTTP
    }
}

/// Client-certificate authentication settings (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_*`).
public struct MTLSSettings: Sendable {
    /// PEM files of the trusted CAs (or, with `requireValidChain=false`, of the accepted client certificates).
    public var trustedCertificateFiles: [String]
    /// PEM files of intermediate CAs that help build chains (untrusted; e.g. when nginx forwards only the leaf).
    public var intermediateCertificateFiles: [String]
    public var requireValidChain: Bool
    public var defaultRoles: [String]
    /// Full-match regex over the RFC 4514 subject; group 1 is the principal. Nil: the subject CN.
    public var subjectPattern: String?
    /// PEM files of the proxies (e.g. nginx) whose forwarded `X-SSL-Client-Cert` is honoured.
    public var trustedProxyFiles: [String]
    /// `…_MTLS_PROFILE`: `compatible` (openssl verify's verdict, the default) or `strict` (RFC 5280 and the web PKI).
    public var profile: ValidationProfile = .compatible
    /// `…_MTLS_REVOCATION`: `off` (default), `crl`, `ocsp` or `crl+ocsp`.
    public var revocation: RevocationMode = .off
    /// `…_MTLS_REVOCATION_FAILURE`: `closed` (default) refuses a certificate whose status is unknown, `open` accepts it.
    public var revocationFailure: RevocationFailurePolicy = .closed
    /// `…_MTLS_CRL_PATHS`: PEM or DER CRL files, reloaded when their content changes.
    public var crlPaths: [String] = []
    /// `…_MTLS_CRL_RELOAD_INTERVAL` (seconds): how often the CRL files are checked for changes.
    public var crlReloadInterval: Duration = .seconds(30)
    /// `…_MTLS_CRL_FETCH`: with a mode that includes `crl`, fetch the CRLs the certificates' CRL distribution points
    /// name (http only) besides the files (default true).
    public var crlFetch = true
    /// `…_MTLS_CRL_FETCH_TIMEOUT` (seconds, default 5): the whole exchange with a distribution point.
    public var crlFetchTimeout: Duration = .seconds(5)
    /// `…_MTLS_CRL_FETCH_MAX_BYTES` (default 1 MiB): the largest CRL accepted from a distribution point.
    public var crlFetchMaxBytes = CRLFetcher.defaultMaximumBytes
    /// `…_MTLS_CRL_FETCH_INTERVAL` (seconds, default 3600): the longest a fetched CRL is used without asking its
    /// distribution point again (it is also fetched ahead of its nextUpdate).
    public var crlFetchInterval: Duration = .seconds(3600)
    /// `…_MTLS_REVOCATION_BY_ANCHOR`: revocation mode and failure policy per trust anchor (``AnchorRevocationSetting``).
    public var revocationByAnchor: [AnchorRevocationSetting] = []

    /// Whether some chain is checked against CRLs (the global mode or an anchor's).
    public var usesCRL: Bool { revocation.usesCRL || revocationByAnchor.contains { $0.mode.usesCRL } }
    /// Whether some chain is checked through OCSP.
    public var usesOCSP: Bool { revocation.usesOCSP || revocationByAnchor.contains { $0.mode.usesOCSP } }
    /// `…_MTLS_PRINCIPAL_SOURCE`: where the principal comes from (the subject by default).
    public var principalSource: MTLSPrincipalSource = .subjectDN
    /// `…_MTLS_DEFAULT_ROLES_BY_ANCHOR`: default roles per trust anchor (``AnchorDefaultRoles``).
    public var defaultRolesByAnchor: [AnchorDefaultRoles] = []

    public init(trustedCertificateFiles: [String], intermediateCertificateFiles: [String] = [], requireValidChain: Bool = true,
                defaultRoles: [String] = [], subjectPattern: String? = nil, trustedProxyFiles: [String] = []) {
        self.trustedCertificateFiles = trustedCertificateFiles
        self.intermediateCertificateFiles = intermediateCertificateFiles
        self.requireValidChain = requireValidChain
        self.defaultRoles = defaultRoles
        self.subjectPattern = subjectPattern
        self.trustedProxyFiles = trustedProxyFiles
    }
}

/// Sessions: the seed's service-account flow stores its result in a cookie session.
public struct SessionSettings: Sendable {
    /// `CAMUNDA_PERSISTENT_SESSIONS_ENABLED`: sessions in the database (survive restarts, shared by replicas).
    public var persistent: Bool
    public var database: DatabaseSettings?
    /// Longest life of a session; it also ends when the token it was made from expires.
    public var maximumLifetime: Duration
    public var cookieName: String
    /// Most sessions held in memory; the oldest is evicted beyond (`CAMUNDA_SECURITY_AUTHENTICATION_SESSION_MAX_COUNT`).
    public var maximumCount: Int
    /// New sessions per second, sustained (`CAMUNDA_SECURITY_AUTHENTICATION_SESSION_CREATION_RATE`), with bursts of
    /// `creationBurst`.
    public var creationRate: Double
    public var creationBurst: Int

    public init(persistent: Bool = false, database: DatabaseSettings? = nil, maximumLifetime: Duration = .seconds(1800),
                cookieName: String = "CERTAUTH_SESSION", maximumCount: Int = 10_000,
                creationRate: Double = 10, creationBurst: Int = 50) {
        self.persistent = persistent
        self.database = database
        self.maximumLifetime = maximumLifetime
        self.cookieName = cookieName
        self.maximumCount = maximumCount
        self.creationRate = creationRate
        self.creationBurst = creationBurst
    }
}

/// Everything authn needs, read once at start.
public struct AuthnConfiguration: Sendable {
    public var listener: ListenerSettings
    public var identityType: IdentityProviderType
    public var method: AuthenticationMethodSetting
    public var oidc: OIDCSettings?
    public var mtls: MTLSSettings?
    /// `CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI` with `CAMUNDA_SECURITY_CERT_AUTH_ENABLED`: a request without
    /// credentials is authenticated as the suite's own service identity (the seed's request flow).
    public var serviceAccountFlow: Bool
    public var rolesURL: URL?
    public var tokenIssuerURL: URL?
    /// Scope authn asks token-issuer for in the service-account flow; nil: token-issuer's default scope.
    public var serviceAccountScope: String?
    public var sessions: SessionSettings
    /// Roles that may write through `/v2/**` and read the audit log (exact names).
    public var adminRoles: [String]
    /// Roles that may read roles and mapping rules through `/v2/**` besides the admin roles (exact names; none by default).
    public var readerRoles: [String]
    /// Roles a caller without credentials gets in the unprotected-API flow (none by default; never an admin role).
    public var anonymousRoles: [String]
    /// Service names allowed to call `POST /v1/authenticate`; empty: any service with a certificate from the internal CA.
    public var allowedCallers: [String]
    /// How long a `/v1/resolve` answer is reused for the same claims or subject.
    public var resolveCacheTTL: Duration
    public var peerTimeout: Duration

    public init(listener: ListenerSettings, identityType: IdentityProviderType = .microsoft,
                method: AuthenticationMethodSetting = .oidc, oidc: OIDCSettings?, mtls: MTLSSettings?,
                serviceAccountFlow: Bool = false, rolesURL: URL? = nil, tokenIssuerURL: URL? = nil,
                serviceAccountScope: String? = nil, sessions: SessionSettings = .init(), adminRoles: [String] = ["admin"],
                readerRoles: [String] = [], anonymousRoles: [String] = [],
                allowedCallers: [String] = [], resolveCacheTTL: Duration = .seconds(10), peerTimeout: Duration = .seconds(5)) {
        self.listener = listener
        self.identityType = identityType
        self.method = method
        self.oidc = oidc
        self.mtls = mtls
        self.serviceAccountFlow = serviceAccountFlow
        self.rolesURL = rolesURL
        self.tokenIssuerURL = tokenIssuerURL
        self.serviceAccountScope = serviceAccountScope
        self.sessions = sessions
        self.adminRoles = adminRoles
        self.readerRoles = readerRoles
        self.anonymousRoles = anonymousRoles
        self.allowedCallers = allowedCallers
        self.resolveCacheTTL = resolveCacheTTL
        self.peerTimeout = peerTimeout
    }
}

/// Environment variable names of authn (the seed's, and ours in the same style).
public enum AuthnSetting {
    public static let identityType = "CAMUNDA_IDENTITY_TYPE"
    public static let issuer = "CAMUNDA_IDENTITY_ISSUER"
    public static let audience = "CAMUNDA_IDENTITY_AUDIENCE"
    public static let jwkSetURI = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI"
    public static let method = "CAMUNDA_SECURITY_AUTHENTICATION_METHOD"
    public static let roleClaims = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ROLE_CLAIMS"
    public static let scopeClaims = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPE_CLAIMS"
    public static let principalClaim = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PRINCIPAL_CLAIM"
    public static let clockSkew = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLOCK_SKEW"
    public static let jwksRefreshInterval = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWKS_REFRESH_INTERVAL"
    public static let jwksMinimumRefreshGap = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWKS_MIN_REFRESH_GAP"
    public static let maxTokenLength = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_TOKEN_LENGTH"
    public static let trustStorePath = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH"
    public static let trustStorePassword = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PASSWORD"
    public static let mtlsEnabled = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED"
    public static let mtlsTrusted = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES"
    public static let mtlsIntermediates = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_INTERMEDIATECERTIFICATES"
    public static let mtlsRequireValidChain = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REQUIREVALIDCHAIN"
    public static let mtlsDefaultRoles = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES"
    public static let mtlsSubjectPattern = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_PATTERN"
    public static let mtlsTrustedProxies = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES"
    public static let mtlsProfile = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PROFILE"
    public static let mtlsRevocation = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION"
    public static let mtlsRevocationFailure = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_FAILURE"
    public static let mtlsCRLPaths = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS"
    public static let mtlsCRLReloadInterval = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_RELOAD_INTERVAL"
    public static let mtlsCRLFetch = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH"
    public static let mtlsCRLFetchTimeout = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH_TIMEOUT"
    public static let mtlsCRLFetchMaxBytes = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH_MAX_BYTES"
    public static let mtlsCRLFetchInterval = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH_INTERVAL"
    public static let mtlsRevocationByAnchor = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR"
    public static let mtlsPrincipalSource = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_SOURCE"
    public static let mtlsDefaultRolesByAnchor = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR"
    public static let unprotectedAPI = "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI"
    public static let certAuthEnabled = "CAMUNDA_SECURITY_CERT_AUTH_ENABLED"
    public static let serviceAccountScope = "CAMUNDA_SECURITY_AUTHENTICATION_SERVICE_ACCOUNT_SCOPE"
    public static let persistentSessions = "CAMUNDA_PERSISTENT_SESSIONS_ENABLED"
    /// The session database with persistent sessions: `sqlite` (default) or `postgresql`, and its file or URL.
    public static let databaseType = "CAMUNDA_DATABASE_TYPE"
    public static let databaseURL = "CAMUNDA_DATABASE_URL"
    public static let database = DatabaseSettings.SettingNames(type: databaseType, url: databaseURL)
    /// The sqlite file of the sessions when `CAMUNDA_DATABASE_URL` is unset, relative to the working directory.
    public static let defaultSessionsSQLitePath = "data/authn-sessions.sqlite"
    public static let sessionTimeout = "CAMUNDA_SECURITY_AUTHENTICATION_SESSION_TIMEOUT"
    public static let rolesURL = "CAMUNDA_ROLES_URL"
    public static let tokenIssuerURL = "CAMUNDA_TOKEN_ISSUER_URL"
    public static let adminRoles = "CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES"
    public static let readerRoles = "CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES"
    public static let anonymousRoles = "CAMUNDA_SECURITY_AUTHENTICATION_ANONYMOUS_ROLES"
    public static let sessionMaxCount = "CAMUNDA_SECURITY_AUTHENTICATION_SESSION_MAX_COUNT"
    public static let sessionCreationRate = "CAMUNDA_SECURITY_AUTHENTICATION_SESSION_CREATION_RATE"
    public static let allowedCallers = "CAMUNDA_AUTHN_ALLOWED_CALLERS"
    public static let resolveCacheTTL = "CAMUNDA_AUTHN_RESOLVE_CACHE_TTL"
    public static let allowInsecureHTTP = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ALLOW_INSECURE_HTTP"
    public static let maxTokenLifetime = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_TOKEN_LIFETIME"
    public static let allowedTenants = "CAMUNDA_IDENTITY_ALLOWED_TENANTS"
    /// The names the token validator's refusals tell the operator to change.
    public static let tokenValidation = TokenValidationSettingNames(
        issuer: issuer, audience: audience, jwkSetURI: jwkSetURI, identityType: identityType,
        maxTokenLifetime: maxTokenLifetime, allowedTenants: allowedTenants)
}

extension AuthnConfiguration {
    public static let defaultPort = 8443
    public static let defaultManagementPort = 9080

    /// Reads and checks every setting; the first problem is thrown as one line naming the variable.
    public init(environment env: EnvironmentReader) throws(ConfigurationError) {
        typealias S = AuthnSetting
        let listener = try ListenerSettings(
            environment: env, defaultPort: Self.defaultPort, defaultManagementPort: Self.defaultManagementPort,
            defaultClientAuth: .want)
        let typeRaw = try env.choice(S.identityType, default: "MICROSOFT", allowed: ["MICROSOFT", "GENERIC", "KEYCLOAK"])
        let identityType = IdentityProviderType(rawValue: typeRaw) ?? .microsoft
        let methodRaw = try env.choice(S.method, default: "OIDC", allowed: ["OIDC", "BASIC"])
        let method = AuthenticationMethodSetting(rawValue: methodRaw) ?? .oidc

        // Bearer tokens.
        let issuer = env.string(S.issuer)
        if let issuer { _ = try Self.httpsURL(issuer, variable: S.issuer) }
        let jwkSetURI = try env.url(S.jwkSetURI, allowHTTP: true)
        var oidc: OIDCSettings?
        if issuer != nil || jwkSetURI != nil {
            let audiences = env.list(S.audience)
            guard !audiences.isEmpty else {
                throw ConfigurationError(
                    variable: S.audience,
                    message: "is not set; expected the API's client id (the `aud` of the tokens authn accepts, comma list), e.g. 2622078b-0164-41ee-8794-3ff8d9f8e402. Without it any token of the tenant would be accepted.")
            }
            let allowInsecure = try env.bool(S.allowInsecureHTTP, default: false)
            try Self.checkTransport(issuer: issuer, jwkSetURI: jwkSetURI, allowInsecure: allowInsecure)
            let allowedTenants = env.list(S.allowedTenants)
            var issuers = try Self.acceptedIssuers(issuer: issuer, jwkSetURI: jwkSetURI, type: identityType)
            if let template = Self.multiTenantTemplate(issuer: issuer, jwkSetURI: jwkSetURI) {
                issuers = try Self.multiTenantIssuers(template: template, tenants: allowedTenants, type: identityType)
            } else if !allowedTenants.isEmpty {
                throw ConfigurationError(
                    variable: S.allowedTenants,
                    message: "is set but \(S.issuer) names one tenant; the allowed tenant list is for multi-tenant issuers only (https://login.microsoftonline.com/organizations/v2.0, …/common/v2.0 or …/{tenantid}/v2.0) — unset it, or configure the multi-tenant issuer.")
            }
            var trust: TrustStoreSource?
            if let path = env.string(S.trustStorePath) {
                trust = TrustStoreSource(path: path, password: env.secret(S.trustStorePassword), type: nil, setting: S.trustStorePath)
            }
            let roleClaims = env.list(S.roleClaims)
            let scopeClaims = env.list(S.scopeClaims)
            oidc = OIDCSettings(
                issuers: issuers, issuer: issuer, jwkSetURI: jwkSetURI, audiences: audiences,
                roleClaims: roleClaims.isEmpty ? ["roles", "app_roles"] : roleClaims,
                scopeClaims: scopeClaims.isEmpty ? ["scp"] : scopeClaims,
                principalClaim: env.string(S.principalClaim),
                leeway: .seconds(try env.int(S.clockSkew, default: 60, range: 0...300)),
                jwksRefreshInterval: .seconds(try env.int(S.jwksRefreshInterval, default: 86_400, range: 60...86_400)),
                jwksMinimumRefreshGap: .seconds(try env.int(S.jwksMinimumRefreshGap, default: 10, range: 0...3600)),
                idpTrustStore: trust,
                maxTokenLength: try env.int(S.maxTokenLength, default: 16 * 1024, range: 1024...(256 * 1024)),
                maxTokenLifetime: .seconds(try env.int(S.maxTokenLifetime, default: 86_400, range: 60...(30 * 86_400))),
                allowedTenants: allowedTenants, allowInsecureHTTP: allowInsecure)
            oidc?.proxies = try EgressProxy.fromEnvironment(env, setting: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY")
        } else if method == .oidc, env.string(S.audience) != nil {
            throw ConfigurationError(
                variable: S.issuer,
                message: "is not set (nor \(S.jwkSetURI)) but \(S.audience) is; bearer validation needs the issuer, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0.")
        }

        // Client certificates.
        var mtls: MTLSSettings?
        if try env.bool(S.mtlsEnabled, default: false) {
            let trusted = env.list(S.mtlsTrusted)
            guard !trusted.isEmpty else {
                throw ConfigurationError(
                    variable: S.mtlsTrusted,
                    message: "is not set but \(S.mtlsEnabled)=true; expected a comma list of PEM files with the CA certificates client certificates must chain to, e.g. /certs/ca-cert.pem.")
            }
            guard listener.sslEnabled, listener.clientAuth != .none else {
                throw ConfigurationError(
                    variable: "SERVER_SSL_CLIENT_AUTH",
                    message: "is none but \(S.mtlsEnabled)=true; client certificates are only asked for with SERVER_SSL_CLIENT_AUTH=want or need (and SERVER_SSL_ENABLED=true).")
            }
            mtls = MTLSSettings(
                trustedCertificateFiles: trusted,
                intermediateCertificateFiles: env.list(S.mtlsIntermediates),
                requireValidChain: try env.bool(S.mtlsRequireValidChain, default: true),
                defaultRoles: try Self.roleList(env, S.mtlsDefaultRoles),
                subjectPattern: env.string(S.mtlsSubjectPattern),
                trustedProxyFiles: env.list(S.mtlsTrustedProxies))
            if let text = env.string(S.mtlsProfile) {
                guard let profile = ValidationProfile(rawValue: text.lowercased()) else {
                    throw ConfigurationError(
                        variable: S.mtlsProfile, message: "'\(text)' is not a validation profile; expected compatible (the default, what openssl verify accepts) or strict (RFC 5280 and the web PKI profile).")
                }
                mtls?.profile = profile
            }
            try Self.readRevocation(env, into: &mtls)
            try Self.readIdentity(env, into: &mtls)
        } else if env.string(S.mtlsTrustedProxies) != nil {
            throw ConfigurationError(
                variable: S.mtlsTrustedProxies,
                message: "is set but \(S.mtlsEnabled) is not true; forwarded client certificates are validated like presented ones, so enable mTLS and set \(S.mtlsTrusted).")
        }

        guard oidc != nil || mtls != nil else {
            throw ConfigurationError(
                variable: method == .basic ? S.mtlsEnabled : S.issuer,
                message: method == .basic
                    ? "is not true; with \(S.method)=BASIC authn authenticates client certificates only, so set \(S.mtlsEnabled)=true and \(S.mtlsTrusted)."
                    : "is not set (nor \(S.jwkSetURI)); authn needs a way to authenticate callers: set the issuer (bearer tokens), or \(S.mtlsEnabled)=true (client certificates), or both.")
        }

        let rolesURL = try env.url(S.rolesURL)
        let tokenIssuerURL = try env.url(S.tokenIssuerURL)
        let unprotected = try env.bool(S.unprotectedAPI, default: false)
        let certAuth = try env.bool(S.certAuthEnabled, default: false)
        let serviceAccountFlow = unprotected && certAuth
        if serviceAccountFlow {
            guard tokenIssuerURL != nil else {
                throw ConfigurationError(
                    variable: S.tokenIssuerURL,
                    message: "is not set but \(S.unprotectedAPI)=true and \(S.certAuthEnabled)=true ask authn to sign callers in as the suite's service identity with a token from token-issuer; expected e.g. https://token-issuer:8444.")
            }
            guard oidc != nil else {
                throw ConfigurationError(
                    variable: S.issuer,
                    message: "is not set but the service-account flow (\(S.unprotectedAPI)=true, \(S.certAuthEnabled)=true) validates token-issuer's token like any other; set the issuer and \(S.audience).")
            }
        }
        guard (rolesURL == nil && tokenIssuerURL == nil) || listener.keystore != nil else {
            throw ConfigurationError(
                variable: "SERVER_SSL_KEY_STORE",
                message: "is not set but authn calls roles / token-issuer over mutual TLS with its own certificate; expected authn's PKCS#12 keystore (certauth pki init writes authn.p12).")
        }
        guard (rolesURL == nil && tokenIssuerURL == nil) || listener.trustStore != nil else {
            throw ConfigurationError(
                variable: "SERVER_SSL_TRUST_STORE",
                message: "is not set but authn checks the certificates of roles / token-issuer against the internal CA; expected e.g. compose/pki/truststore.pem.")
        }

        let persistent = try env.bool(S.persistentSessions, default: false)
        let database = persistent
            ? try DatabaseSettings.checked(
                backend: env.choice(S.databaseType, default: "sqlite", allowed: DatabaseSettings.backendNames),
                url: env.secret(S.databaseURL), defaultSQLitePath: S.defaultSessionsSQLitePath, names: S.database)
            : nil
        let creationRate = try env.int(S.sessionCreationRate, default: 10, range: 1...10_000)
        let sessions = SessionSettings(
            persistent: persistent, database: database,
            maximumLifetime: .seconds(try env.int(S.sessionTimeout, default: 1800, range: 60...86_400)),
            maximumCount: try env.int(S.sessionMaxCount, default: 10_000, range: 10...10_000_000),
            creationRate: Double(creationRate), creationBurst: max(creationRate * 5, 10))
        let adminRoles = try Self.roleList(env, S.adminRoles)
        let readerRoles = try Self.roleList(env, S.readerRoles)
        let anonymousRoles = try Self.roleList(env, S.anonymousRoles)
        let effectiveAdminRoles = adminRoles.isEmpty ? ["admin"] : adminRoles
        if let admin = anonymousRoles.first(where: { effectiveAdminRoles.contains($0) }) {
            throw ConfigurationError(
                variable: S.anonymousRoles,
                message: "grants callers without credentials the admin role '\(admin)' (an admin role by \(S.adminRoles)); anonymous callers must never administer roles. Remove it, or turn \(S.unprotectedAPI) off.")
        }
        if !anonymousRoles.isEmpty, !serviceAccountFlow {
            throw ConfigurationError(
                variable: S.anonymousRoles,
                message: "is set but callers without credentials are refused (\(S.unprotectedAPI) and \(S.certAuthEnabled) are not both true); remove it or enable the unprotected-API flow.")
        }
        self.init(
            listener: listener, identityType: identityType, method: method, oidc: oidc, mtls: mtls,
            serviceAccountFlow: serviceAccountFlow, rolesURL: rolesURL, tokenIssuerURL: tokenIssuerURL,
            serviceAccountScope: env.string(S.serviceAccountScope), sessions: sessions,
            adminRoles: effectiveAdminRoles, readerRoles: readerRoles, anonymousRoles: anonymousRoles,
            allowedCallers: env.list(S.allowedCallers),
            resolveCacheTTL: .seconds(try env.int(S.resolveCacheTTL, default: 10, range: 0...3600)))
    }

    /// The `iss` values accepted: the configured issuer; for MICROSOFT also both Entra forms of its tenant
    /// (v1 `https://sts.windows.net/{tid}/`, v2 `https://login.microsoftonline.com/{tid}/v2.0`). With only a JWK set URI
    /// on login.microsoftonline.com, the tenant comes from its path.
    static func acceptedIssuers(issuer: String?, jwkSetURI: URL?, type: IdentityProviderType) throws(ConfigurationError) -> [String] {
        if let issuer {
            return type == .microsoft ? TokenValidationSettings.microsoftIssuers(configured: issuer) : [issuer]
        }
        if type == .microsoft, let jwkSetURI, jwkSetURI.host == "login.microsoftonline.com",
           let tenant = jwkSetURI.pathComponents.dropFirst().first {
            return TokenValidationSettings.microsoftIssuers(configured: "https://login.microsoftonline.com/\(tenant)/v2.0")
        }
        throw ConfigurationError(
            variable: AuthnSetting.issuer,
            message: "is not set; authn checks every token's `iss` against it. Expected e.g. https://login.microsoftonline.com/<tenant-id>/v2.0 (Entra) or the realm URL (Keycloak).")
    }

    /// A comma list of role names, each checked by ``RoleName`` (no `,`, white space or control characters).
    static func roleList(_ env: EnvironmentReader, _ variable: String) throws(ConfigurationError) -> [String] {
        let roles = env.list(variable)
        for role in roles {
            if let problem = RoleName.problem(role) {
                throw ConfigurationError(
                    variable: variable,
                    message: "holds the role '\(RoleName.shown(role))', which \(problem); expected a comma list of role names, e.g. admin,operator.")
            }
        }
        return roles
    }

    /// Where authn fetches key material from must be https (or loopback, or the explicit opt-in): the JWK set URI,
    /// else the issuer (whose discovery document names the JWKS). The issuer is only compared with `iss` when a JWK
    /// set URI is set, so then it is not a transport.
    static func checkTransport(issuer: String?, jwkSetURI: URL?, allowInsecure: Bool) throws(ConfigurationError) {
        if let jwkSetURI {
            try IdPTransport.check(jwkSetURI, variable: AuthnSetting.jwkSetURI, allowInsecure: allowInsecure, optIn: AuthnSetting.allowInsecureHTTP, expected: "the IdP's signing keys (JWKS)")
        } else if let issuer, let url = URL(string: issuer) {
            try IdPTransport.check(url, variable: AuthnSetting.issuer, allowInsecure: allowInsecure, optIn: AuthnSetting.allowInsecureHTTP, expected: "the discovery document (which names the JWKS)")
        }
    }

    /// The configured issuer when it is a multi-tenant one (`{tenantid}`, `common`, `organizations` as its tenant), or
    /// with only a JWK set URI on login.microsoftonline.com, the v2 issuer of the tenant segment of that URI.
    static func multiTenantTemplate(issuer: String?, jwkSetURI: URL?) -> String? {
        if let issuer {
            return TokenValidationSettings.tenantPlaceholder(in: issuer) == nil ? nil : issuer
        }
        if let jwkSetURI, jwkSetURI.host == "login.microsoftonline.com",
           let tenant = jwkSetURI.pathComponents.dropFirst().first,
           TokenValidationSettings.tenantPlaceholders.contains(tenant.lowercased()) {
            return "https://login.microsoftonline.com/\(tenant)/v2.0"
        }
        return nil
    }

    /// The accepted issuers of a multi-tenant `template`: refused without an allowed tenant list (no token would ever
    /// match, or, worse, any tenant's would).
    static func multiTenantIssuers(template: String, tenants: [String], type: IdentityProviderType) throws(ConfigurationError) -> [String] {
        guard !tenants.isEmpty else {
            throw ConfigurationError(
                variable: AuthnSetting.allowedTenants,
                message: "is not set but the issuer '\(template)' is multi-tenant (no token carries that iss); set it to the tenant ids whose tokens are accepted (comma list), e.g. \(AuthnSetting.allowedTenants)=ea952511-6a7f-40b8-af71-6c1be6f0dade, or set \(AuthnSetting.issuer) to one tenant's issuer.")
        }
        for tenant in tenants where tenant.contains("/") || tenant.contains("{") || TokenValidationSettings.tenantPlaceholders.contains(tenant.lowercased()) {
            throw ConfigurationError(
                variable: AuthnSetting.allowedTenants,
                message: "'\(tenant)' is not a tenant id; expected tenant ids (GUIDs) as in the tokens' tid claim, comma list.")
        }
        return TokenValidationSettings.multiTenantIssuers(template: template, tenants: tenants, microsoft: type == .microsoft)
    }

    static func httpsURL(_ value: String, variable: String) throws(ConfigurationError) -> URL {
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
              url.host != nil else {
            throw ConfigurationError(variable: variable, message: "is '\(value)', which is not an http(s) URL; expected e.g. https://login.microsoftonline.com/<tenant-id>/v2.0.")
        }
        return url
    }
}

extension AuthnConfiguration {
    /// `…_MTLS_REVOCATION`, `…_REVOCATION_FAILURE`, `…_CRL_PATHS`, `…_CRL_RELOAD_INTERVAL`, `…_CRL_FETCH*`,
    /// `…_REVOCATION_BY_ANCHOR`.
    static func readRevocation(_ env: EnvironmentReader, into mtls: inout MTLSSettings?) throws(ConfigurationError) {
        typealias S = AuthnSetting
        let paths = env.list(S.mtlsCRLPaths)
        if let text = env.string(S.mtlsRevocation) {
            switch text.lowercased() {
            case "off": mtls?.revocation = .off
            case "crl": mtls?.revocation = .crl
            case "ocsp": mtls?.revocation = .ocsp
            case "crl+ocsp": mtls?.revocation = .crlAndOCSP
            default:
                throw ConfigurationError(
                    variable: S.mtlsRevocation, message: "'\(text)' is not a revocation mode; expected off (the default), crl, ocsp or crl+ocsp.")
            }
        }
        if let text = env.string(S.mtlsRevocationFailure) {
            guard let failure = RevocationFailurePolicy(rawValue: text.lowercased()) else {
                throw ConfigurationError(
                    variable: S.mtlsRevocationFailure,
                    message: "'\(text)' is not a failure policy; expected closed (the default: refuse a certificate whose revocation status is unknown) or open (accept it).")
            }
            mtls?.revocationFailure = failure
        }
        mtls?.crlPaths = paths
        mtls?.crlReloadInterval = .seconds(try env.int(S.mtlsCRLReloadInterval, default: 30, range: 1...86_400))
        mtls?.crlFetch = try env.bool(S.mtlsCRLFetch, default: true)
        mtls?.crlFetchTimeout = .seconds(try env.int(S.mtlsCRLFetchTimeout, default: 5, range: 1...60))
        mtls?.crlFetchMaxBytes = try env.int(S.mtlsCRLFetchMaxBytes, default: CRLFetcher.defaultMaximumBytes, range: 1024...64 * 1024 * 1024)
        mtls?.crlFetchInterval = .seconds(try env.int(S.mtlsCRLFetchInterval, default: 3600, range: 1...7 * 86_400))
        if let text = env.string(S.mtlsRevocationByAnchor) {
            mtls?.revocationByAnchor = try AnchorRevocationSetting.parse(text, variable: S.mtlsRevocationByAnchor)
        }
        if mtls?.usesCRL == true, paths.isEmpty, mtls?.crlFetch == false {
            throw ConfigurationError(
                variable: S.mtlsCRLPaths,
                message: "is not set but \(S.mtlsRevocation)=\(mtls?.revocation.rawValue ?? "crl") (or an anchor of \(S.mtlsRevocationByAnchor) uses crl) and \(S.mtlsCRLFetch)=false; list the CRL files of the CAs in \(S.mtlsTrusted) (comma list, PEM or DER, e.g. from openssl ca -gencrl), or set \(S.mtlsCRLFetch)=true to fetch them from the certificates' CRL distribution points.")
        }
        if mtls?.usesCRL == false, !paths.isEmpty {
            throw ConfigurationError(
                variable: S.mtlsCRLPaths,
                message: "is set but \(S.mtlsRevocation) is \(mtls?.revocation.rawValue ?? "off"), so the CRLs would not be checked; set \(S.mtlsRevocation)=crl or crl+ocsp.")
        }
    }
}
