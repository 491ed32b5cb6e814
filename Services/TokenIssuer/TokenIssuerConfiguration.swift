import ClientAssertion
import Foundation
import JOSE
import Keystore
import ServiceClient
import ServiceSupport
import Settings

/// Everything token-issuer needs, read once at start.
public struct TokenIssuerConfiguration: Sendable {
    public var listener: ListenerSettings
    public var identityType: IdentityProviderType
    /// Issuer base URL; the token endpoint comes from its discovery document unless `tokenURI` is set.
    public var issuerBackendURL: URL?
    /// Explicit token endpoint (skips discovery).
    public var tokenURI: URL?
    public var clientID: String
    public var defaultScope: String
    /// How token-issuer authenticates to the IdP's token endpoint.
    public var clientAuthenticationMethod: ClientAuthenticationMethod
    /// The client secret of the secret methods (a secret: never logged).
    public var clientSecret: String?
    /// The client credential (certificate and key); nil only with a secret method and no keystore configured.
    public var keystore: KeystoreSource?
    public var assertion: ClientAssertionSettings
    /// Extra CA certificates trusted for HTTPS to the IdP, on top of the system roots.
    public var idpTrustStore: TrustStoreSource?
    public var connectTimeout: Duration
    public var readTimeout: Duration
    /// Retries of 429, 5xx and network failures per exchange.
    public var maxRetries: Int
    /// Longest wait before a retry; a longer `Retry-After` fails the request at once (with that `Retry-After`).
    public var maxRetryDelay: Duration
    /// How often the keystore file is checked for a new certificate; zero turns it off.
    public var keystoreReloadInterval: Duration
    /// Services (identities `spiffe://<trust domain>/<service>`) allowed to obtain tokens (`POST /v1/token`) and read
    /// `GET /v1/credentials`; default: the suite's own services that ask for tokens (authn).
    public var allowedCallers: [String]
    /// Services allowed to obtain signed client assertions (`POST /v1/client-assertion`); empty (the default): nobody.
    public var assertionCallers: [String]
    /// Per caller, the scopes it may ask for; a caller without an entry may ask for any scope.
    public var callerScopes: [String: Set<String>]
    /// Plain `http://` to the IdP beyond loopback (discovery, token endpoint) is allowed (a lab without TLS).
    public var allowInsecureHTTP: Bool = false
    /// Where the client assertion comes from: signed with the keystore's key (default), or a federated token file.
    public var assertionSource: ClientAssertionSource = .keystore
    /// The forward proxies of the IdP calls (`HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, or
    /// `CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY` for the IdP calls only); nil: direct.
    public var httpsProxy: EgressProxy?
    public var httpProxy: EgressProxy?
    /// The next client credential during a rollover (`…_CLIENT_ASSERTION_NEXT_KEYSTORE_PATH` or the `…_NEXT_CERTIFICATE`
    /// + `…_NEXT_PRIVATE_KEY` pair); nil: one credential.
    public var nextKeystore: KeystoreSource?
    /// Zero-touch rotation at Entra (Graph addKey/removeKey); nil: off (the default).
    public var rotation: RotationSettings?

    public init(
        listener: ListenerSettings, identityType: IdentityProviderType, issuerBackendURL: URL?, tokenURI: URL?,
        clientID: String, defaultScope: String, keystore: KeystoreSource?, assertion: ClientAssertionSettings,
        clientAuthenticationMethod: ClientAuthenticationMethod = .privateKeyJWT, clientSecret: String? = nil,
        idpTrustStore: TrustStoreSource? = nil, connectTimeout: Duration = .seconds(5), readTimeout: Duration = .seconds(10),
        maxRetries: Int = 2, maxRetryDelay: Duration = .seconds(10), keystoreReloadInterval: Duration = .seconds(60),
        allowedCallers: [String] = [TokenIssuerSetting.defaultAllowedCaller], assertionCallers: [String] = [],
        callerScopes: [String: Set<String>] = [:]
    ) {
        self.listener = listener
        self.identityType = identityType
        self.issuerBackendURL = issuerBackendURL
        self.tokenURI = tokenURI
        self.clientID = clientID
        self.defaultScope = defaultScope
        self.keystore = keystore
        self.clientAuthenticationMethod = clientAuthenticationMethod
        self.clientSecret = clientSecret
        self.assertion = assertion
        self.idpTrustStore = idpTrustStore
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.maxRetries = maxRetries
        self.maxRetryDelay = maxRetryDelay
        self.keystoreReloadInterval = keystoreReloadInterval
        self.allowedCallers = allowedCallers
        self.assertionCallers = assertionCallers
        self.callerScopes = callerScopes
    }
}

/// Environment variable names (the seed's, and ours in the same style).
public enum TokenIssuerSetting {
    public static let identityType = "CAMUNDA_IDENTITY_TYPE"
    public static let issuerBackendURL = "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL"
    public static let issuer = "CAMUNDA_IDENTITY_ISSUER"
    public static let tokenURI = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI"
    public static let clientID = "CAMUNDA_IDENTITY_CLIENT_ID"
    public static let certAuthEnabled = "CAMUNDA_SECURITY_CERT_AUTH_ENABLED"
    public static let grantType = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRANTTYPE"
    public static let scopes = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES"
    public static let keystorePath = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH"
    public static let keystorePassword = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD"
    public static let keyAlias = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS"
    public static let keyPassword = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD"
    public static let assertionCertificate = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_CERTIFICATE"
    public static let assertionPrivateKey = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_PRIVATE_KEY"
    public static let assertionSource = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_SOURCE"
    public static let assertionFile = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_FILE"
    public static let assertionFileAudience = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_FILE_AUDIENCE"
    /// Set by the azure-workload-identity webhook (and read by Azure Identity's WorkloadIdentityCredential).
    public static let azureFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
    /// A forward proxy for the IdP calls only (overrides HTTPS_PROXY/HTTP_PROXY; `none`: direct).
    public static let proxy = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY"
    public static let keystoreReloadInterval = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_RELOAD_INTERVAL"
    /// The next client credential: loaded next to the current one during a rollover; token-issuer signs with the
    /// newest certificate the IdP has accepted and falls back to the other on a certificate refusal.
    public static let nextKeystorePath = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_PATH"
    public static let nextKeystorePassword = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_PASSWORD"
    public static let nextKeyAlias = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_KEY_ALIAS"
    public static let nextKeyPassword = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_KEY_PASSWORD"
    public static let nextCertificate = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_CERTIFICATE"
    public static let nextPrivateKey = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_PRIVATE_KEY"
    /// Zero-touch rotation at Entra: `true` registers a new certificate with Graph addKey and removes the old one.
    public static let rotationEnabled = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_ENABLED"
    /// The application's object id (Graph `id`, "Object ID" in the app registration): the proof's `iss`.
    public static let rotationApplicationObjectID = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_APPLICATION_OBJECT_ID"
    /// Seconds between switching to the new certificate and removing the old key at Entra.
    public static let rotationGracePeriod = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_GRACE_PERIOD"
    /// Seconds token-issuer keeps checking that Entra takes a newly added key (replication) before it gives up for now.
    public static let rotationVerifyTimeout = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_VERIFY_TIMEOUT"
    /// Microsoft Graph's base URL (default https://graph.microsoft.com).
    public static let graphURL = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRAPH_URL"
    /// The scope of the app's own Graph token (default https://graph.microsoft.com/.default).
    public static let graphScope = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRAPH_SCOPE"
    public static let algorithm = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ALGORITHM"
    public static let lifetime = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_LIFETIME"
    public static let sendX5C = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_SEND_X5C"
    public static let trustStorePath = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH"
    public static let trustStorePassword = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PASSWORD"
    public static let connectTimeout = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CONNECT_TIMEOUT"
    public static let readTimeout = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_READ_TIMEOUT"
    public static let maxRetries = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_MAX_RETRIES"
    public static let allowedCallers = "CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS"
    public static let assertionCallers = "CAMUNDA_TOKEN_ISSUER_ASSERTION_ALLOWED_CALLERS"
    public static let callerScopes = "CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES"
    /// Who may obtain tokens when `CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS` is unset: the suite's own service that asks
    /// for them (authn's unprotected-API flow).
    public static let defaultAllowedCaller = "authn"
    public static let clientAuthenticationMethod = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD"
    public static let clientSecret = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET"
    public static let allowInsecureHTTP = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_ALLOW_INSECURE_HTTP"
}

extension KeystoreSettingNames {
    /// The client-assertion keystore of the OIDC client (private_key_jwt), as the seed names it.
    public static let clientAssertion = KeystoreSettingNames(
        path: TokenIssuerSetting.keystorePath, password: TokenIssuerSetting.keystorePassword,
        alias: TokenIssuerSetting.keyAlias, keyPassword: TokenIssuerSetting.keyPassword,
        certificate: TokenIssuerSetting.assertionCertificate, privateKey: TokenIssuerSetting.assertionPrivateKey)

    /// The next client credential during a rollover.
    public static let clientAssertionNext = KeystoreSettingNames(
        path: TokenIssuerSetting.nextKeystorePath, password: TokenIssuerSetting.nextKeystorePassword,
        alias: TokenIssuerSetting.nextKeyAlias, keyPassword: TokenIssuerSetting.nextKeyPassword,
        certificate: TokenIssuerSetting.nextCertificate, privateKey: TokenIssuerSetting.nextPrivateKey)
}

/// How token-issuer authenticates at the token endpoint (`CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD`).
public enum ClientAuthenticationMethod: String, Sendable, CaseIterable {
    /// RFC 7523 client assertion signed with the keystore's key (Entra's certificate credential).
    case privateKeyJWT = "private_key_jwt"
    /// RFC 8705 mutual TLS: the token request presents the keystore's certificate and chain; no assertion, no secret.
    case tlsClientAuth = "tls_client_auth"
    /// RFC 6749 §2.3.1 HTTP Basic with the client secret (for migrating from secrets).
    case clientSecretBasic = "client_secret_basic"
    /// The client secret in the form body (for migrating from secrets).
    case clientSecretPost = "client_secret_post"

    /// Whether the method authenticates with a certificate (and so needs the keystore).
    public var usesCertificate: Bool { self == .privateKeyJWT || self == .tlsClientAuth }
}

extension TokenIssuerConfiguration {
    /// Default listener port of token-issuer.
    public static let defaultPort = 8444
    /// Default management port of token-issuer.
    public static let defaultManagementPort = 9081

    /// Reads and checks every setting; the first problem is thrown as one line naming the variable.
    ///
    /// ## Configuration keys
    /// See ``TokenIssuerSetting`` and ``ListenerSettings``; README.md has the table.
    public init(environment env: EnvironmentReader) throws(ConfigurationError) {
        typealias S = TokenIssuerSetting
        let listener = try ListenerSettings(
            environment: env, defaultPort: Self.defaultPort, defaultManagementPort: Self.defaultManagementPort,
            defaultClientAuth: .need)
        try listener.requireClientCertificates(
            because: "token-issuer hands tokens only to callers that present a certificate from the internal CA")
        let typeRaw = try env.choice(S.identityType, default: "MICROSOFT", allowed: ["MICROSOFT", "GENERIC", "KEYCLOAK"])
        let identityType = IdentityProviderType(rawValue: typeRaw) ?? .microsoft
        var issuerBackend = try env.url(S.issuerBackendURL, allowHTTP: true)
        var issuerVariable = S.issuerBackendURL
        if issuerBackend == nil {
            issuerBackend = try env.url(S.issuer, allowHTTP: true)
            issuerVariable = S.issuer
        }
        let tokenURI = try env.url(S.tokenURI, allowHTTP: true)
        let allowInsecure = try env.bool(S.allowInsecureHTTP, default: false)
        if let tokenURI {
            try IdPTransport.check(tokenURI, variable: S.tokenURI, allowInsecure: allowInsecure, optIn: TokenIssuerSetting.allowInsecureHTTP, expected: "the token endpoint (it receives the client's credentials and returns tokens)")
        } else if let issuerBackend {
            try IdPTransport.check(issuerBackend, variable: issuerVariable, allowInsecure: allowInsecure, optIn: TokenIssuerSetting.allowInsecureHTTP, expected: "the discovery document (which names the token endpoint)")
        }
        guard issuerBackend != nil || tokenURI != nil else {
            throw ConfigurationError(
                variable: S.issuerBackendURL,
                message: "is not set (nor \(S.tokenURI)); expected the issuer, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0.")
        }
        let clientID = try env.required(S.clientID, expected: "the application (client) ID of the app registration")
        let method = try Self.readMethod(env, identityType: identityType)
        _ = try env.choice(S.grantType, default: "client_credentials", allowed: ["client_credentials"])
        let scope = try env.required(S.scopes, expected: "the default scope, for Entra '<resource client id>/.default'")
        if identityType == .microsoft {
            try Self.checkMicrosoftScope(scope, variable: S.scopes)
        }
        var secret: String?
        if !method.usesCertificate {
            guard let value = env.secret(S.clientSecret), !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ConfigurationError(
                    variable: S.clientSecret,
                    message: "is not set, but \(S.clientAuthenticationMethod)=\(method.rawValue) authenticates with the client secret; set it to the secret of the app registration (or switch to private_key_jwt or tls_client_auth and configure the CLIENT_ASSERTION_KEYSTORE_* variables).")
            }
            secret = value
        }
        let sourceRaw = try env.choice(S.assertionSource, default: "keystore", allowed: ["keystore", "file"])
        var assertionSource = ClientAssertionSource.keystore
        if sourceRaw == "file" {
            guard method == .privateKeyJWT else {
                throw ConfigurationError(
                    variable: S.assertionSource,
                    message: "is file, but \(S.clientAuthenticationMethod)=\(method.rawValue); a federated token is sent as a client assertion, so the method must be private_key_jwt.")
            }
            guard let path = env.string(S.assertionFile) ?? env.string(S.azureFederatedTokenFile) else {
                throw ConfigurationError(
                    variable: S.assertionFile,
                    message: "is not set (nor \(S.azureFederatedTokenFile)) but \(S.assertionSource)=file; expected the federated token file, e.g. /var/run/secrets/azure/tokens/azure-identity-token (the projected service account token).")
            }
            let audience = env.string(S.assertionFileAudience) ?? (identityType == .microsoft ? FederatedTokenFile.entraAudience : nil)
            assertionSource = .file(FederatedTokenFile(path: path, audience: audience))
        }
        let keystore = try KeystoreSource(
            environment: env, settings: .clientAssertion,
            expected: method.usesCertificate && assertionSource == .keystore
                ? "the path of the PKCS#12 keystore holding the client certificate, e.g. /certs/identity.p12, or a directory with tls.crt and tls.key (or set \(S.assertionCertificate) and \(S.assertionPrivateKey) to PEM files)"
                : nil)
        let algorithmRaw = try env.choice(S.algorithm, default: "RS256", allowed: ["RS256", "PS256", "ES256"])
        let algorithm = JWSAlgorithm(rawValue: algorithmRaw) ?? .rs256
        if identityType == .microsoft, algorithm == .es256 {
            throw ConfigurationError(
                variable: S.algorithm, message: "ES256 is not accepted by Microsoft Entra; expected RS256 or PS256.")
        }
        let lifetime = try env.int(S.lifetime, default: 300, range: 1...ClientAssertionSettings.maximumLifetime)
        let sendX5C = try env.bool(S.sendX5C, default: false)
        var idpTrust: TrustStoreSource?
        if let path = env.string(S.trustStorePath) {
            idpTrust = TrustStoreSource(path: path, password: env.secret(S.trustStorePassword), type: nil, setting: S.trustStorePath)
        }
        self.init(
            listener: listener, identityType: identityType, issuerBackendURL: issuerBackend, tokenURI: tokenURI,
            clientID: clientID, defaultScope: scope, keystore: keystore,
            assertion: ClientAssertionSettings(clientID: clientID, algorithm: algorithm, lifetime: lifetime, sendX5C: sendX5C),
            clientAuthenticationMethod: method, clientSecret: secret,
            idpTrustStore: idpTrust,
            connectTimeout: .seconds(try env.int(S.connectTimeout, default: 5, range: 1...120)),
            readTimeout: .seconds(try env.int(S.readTimeout, default: 10, range: 1...300)),
            maxRetries: try env.int(S.maxRetries, default: 2, range: 0...10),
            keystoreReloadInterval: .seconds(try env.int(S.keystoreReloadInterval, default: 60, range: 0...86_400)),
            allowedCallers: try Self.callers(env, S.allowedCallers, default: [S.defaultAllowedCaller]),
            assertionCallers: try Self.callers(env, S.assertionCallers, default: []),
            callerScopes: try Self.callerScopes(env, identityType: identityType))
        self.allowInsecureHTTP = allowInsecure
        self.assertionSource = assertionSource
        (self.httpsProxy, self.httpProxy) = try EgressProxy.fromEnvironment(env, setting: S.proxy)
        self.nextKeystore = try KeystoreSource(
            environment: env, settings: .clientAssertionNext, expected: nil, certificateRole: "client_credential_next")
        if nextKeystore != nil, keystore == nil || assertionSource != .keystore || !method.usesCertificate {
            throw ConfigurationError(
                variable: S.nextKeystorePath,
                message: "is set, but there is no current client certificate to roll over from (\(S.keystorePath) or \(S.assertionCertificate), with private_key_jwt or tls_client_auth and CLIENT_ASSERTION_SOURCE=keystore); set the current credential too, or remove the next one.")
        }
        self.rotation = try RotationSettings(environment: env, method: method, identityType: identityType, hasKeystore: keystore != nil && assertionSource == .keystore, allowInsecure: allowInsecure)
    }

    /// A comma list of service names (the `<service>` of `spiffe://<trust domain>/<service>`); unset: `fallback`.
    static func callers(_ env: EnvironmentReader, _ variable: String, default fallback: [String]) throws(ConfigurationError) -> [String] {
        guard env.string(variable) != nil else { return fallback }
        let names = env.list(variable)
        for name in names where name == "*" || name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) {
            throw ConfigurationError(
                variable: variable,
                message: "holds '\(name)'; expected a comma list of service names as their certificates' SPIFFE IDs spiffe://<trust domain>/<service> name them, e.g. authn,worker (no wildcards).")
        }
        return names
    }

    /// `CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES`: comma list of `service=scope` (a service may appear several times).
    static func callerScopes(_ env: EnvironmentReader, identityType: IdentityProviderType) throws(ConfigurationError) -> [String: Set<String>] {
        typealias S = TokenIssuerSetting
        var result: [String: Set<String>] = [:]
        for entry in env.list(S.callerScopes) {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigurationError(
                    variable: S.callerScopes,
                    message: "holds '\(entry)'; expected a comma list of service=scope, e.g. worker=2622078b-0164-41ee-8794-3ff8d9f8e402/.default,worker=https://graph.microsoft.com/.default.")
            }
            if identityType == .microsoft { try checkMicrosoftScope(parts[1], variable: S.callerScopes) }
            result[parts[0], default: []].insert(parts[1])
        }
        return result
    }

    /// The client authentication method, checked against `CAMUNDA_SECURITY_CERT_AUTH_ENABLED` and the IdP type.
    /// Unset, it is `private_key_jwt` with certificate authentication on and `client_secret_basic` with it off.
    static func readMethod(_ env: EnvironmentReader, identityType: IdentityProviderType) throws(ConfigurationError) -> ClientAuthenticationMethod {
        typealias S = TokenIssuerSetting
        var certAuth: Bool?
        if env.string(S.certAuthEnabled) != nil {
            certAuth = try env.bool(S.certAuthEnabled, default: true)
        }
        let allowed = ClientAuthenticationMethod.allCases.map(\.rawValue)
        let defaultMethod: ClientAuthenticationMethod = certAuth == false ? .clientSecretBasic : .privateKeyJWT
        let raw = try env.choice(S.clientAuthenticationMethod, default: defaultMethod.rawValue, allowed: allowed)
        let method = ClientAuthenticationMethod(rawValue: raw) ?? defaultMethod
        if certAuth == true, !method.usesCertificate {
            throw ConfigurationError(
                variable: S.certAuthEnabled,
                message: "is true, but \(S.clientAuthenticationMethod)=\(method.rawValue) authenticates with a client secret; set \(S.certAuthEnabled)=false to use the secret (while migrating), or choose private_key_jwt or tls_client_auth.")
        }
        if certAuth == false, method.usesCertificate {
            throw ConfigurationError(
                variable: S.certAuthEnabled,
                message: "is false, but \(S.clientAuthenticationMethod)=\(method.rawValue) authenticates with a certificate; set \(S.certAuthEnabled)=true, or choose client_secret_basic or client_secret_post with \(S.clientSecret).")
        }
        if identityType == .microsoft, method == .tlsClientAuth {
            throw ConfigurationError(
                variable: S.clientAuthenticationMethod,
                message: "tls_client_auth is not offered by Microsoft Entra ID (its token endpoint takes certificate credentials only as signed assertions); use private_key_jwt with CAMUNDA_IDENTITY_TYPE=MICROSOFT, or tls_client_auth with GENERIC or KEYCLOAK.")
        }
        return method
    }

    /// Entra's client-credentials flow takes exactly one `<resource>/.default` scope.
    public static func checkMicrosoftScope(_ scope: String, variable: String) throws(ConfigurationError) {
        let parts = scope.split(separator: " ")
        guard parts.count == 1, let only = parts.first, only.hasSuffix("/.default"), only.count > "/.default".count else {
            throw ConfigurationError(
                variable: variable,
                message: "Invalid scope: missing .default suffix ('\(scope)'); Microsoft Entra's client_credentials flow needs exactly one scope of the form '<resource client id or app ID URI>/.default', e.g. 2622078b-0164-41ee-8794-3ff8d9f8e402/.default.")
        }
    }
}

/// Zero-touch rotation at Entra (issue 19 item 4): a new certificate on disk is registered on the app registration
/// with Graph `addKey` (proof of possession signed by the working key), used once an exchange with it succeeds, and the
/// old key removed with `removeKey` after the grace period.
public struct RotationSettings: Sendable {
    /// Graph's base URL, e.g. https://graph.microsoft.com (the emulator's in tests).
    public var graphURL: URL
    /// The scope of the app's own Graph token.
    public var graphScope: String
    /// The application's object id: the proof's `iss` (Graph documents the application's `id`).
    public var applicationObjectID: String
    /// How long the old key stays registered after the switch (in-flight assertions, other replicas).
    public var gracePeriod: Duration
    /// How long to keep checking that Entra takes a newly added key before giving up until the next poll.
    public var verifyTimeout: Duration

    public init(graphURL: URL, graphScope: String = "https://graph.microsoft.com/.default", applicationObjectID: String,
                gracePeriod: Duration = .seconds(86_400), verifyTimeout: Duration = .seconds(600)) {
        self.graphURL = graphURL
        self.graphScope = graphScope
        self.applicationObjectID = applicationObjectID
        self.gracePeriod = gracePeriod
        self.verifyTimeout = verifyTimeout
    }

    /// nil unless `…_ROTATION_ENABLED=true`; then checks what it needs.
    init?(environment env: EnvironmentReader, method: ClientAuthenticationMethod, identityType: IdentityProviderType,
          hasKeystore: Bool, allowInsecure: Bool) throws(ConfigurationError) {
        typealias S = TokenIssuerSetting
        guard try env.bool(S.rotationEnabled, default: false) else { return nil }
        guard identityType == .microsoft, method == .privateKeyJWT, hasKeystore else {
            throw ConfigurationError(
                variable: S.rotationEnabled,
                message: "is true, but zero-touch rotation registers certificates at Microsoft Entra with Graph addKey: it needs CAMUNDA_IDENTITY_TYPE=MICROSOFT, private_key_jwt and a client certificate keystore (CLIENT_ASSERTION_SOURCE=keystore).")
        }
        let graph = try env.url(S.graphURL, allowHTTP: true) ?? URL(string: "https://graph.microsoft.com")
        guard let graph else {
            throw ConfigurationError(variable: S.graphURL, message: "is not a URL; expected https://graph.microsoft.com.")
        }
        try IdPTransport.check(graph, variable: S.graphURL, allowInsecure: allowInsecure, optIn: TokenIssuerSetting.allowInsecureHTTP, expected: "Microsoft Graph (it receives the app's token and proofs of possession)")
        let objectID = try env.required(
            S.rotationApplicationObjectID,
            expected: "the app registration's Object ID (Graph 'id', not the client id), which Graph expects as the 'iss' of the proof of possession")
        guard UUID(uuidString: objectID) != nil else {
            throw ConfigurationError(
                variable: S.rotationApplicationObjectID,
                message: "is '\(objectID.prefix(80))'; expected the app registration's Object ID, a GUID such as 8f3c3a52-4b4e-4e53-9f0c-3f3b0d7e6a11 (Entra admin center > App registrations > Overview).")
        }
        let scope = env.string(S.graphScope) ?? "https://graph.microsoft.com/.default"
        try TokenIssuerConfiguration.checkMicrosoftScope(scope, variable: S.graphScope)
        self.init(
            graphURL: graph, graphScope: scope, applicationObjectID: objectID.lowercased(),
            gracePeriod: .seconds(try env.int(S.rotationGracePeriod, default: 86_400, range: 0...(30 * 86_400))),
            verifyTimeout: .seconds(try env.int(S.rotationVerifyTimeout, default: 600, range: 1...86_400)))
    }
}
