import AsyncHTTPClient
import AuthProtocol
import CertificateValidation
import Foundation
import Hummingbird
import HummingbirdHTTP2
import Keystore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOSSL
import Prometheus
import ServiceClient
import ServiceLifecycle
import ServiceSupport
import Settings
import Storage
import TokenValidation
import WireFormat
import X509

/// A built authn: the services to run, and handles on what they bind.
public struct AuthnInstance: Sendable {
    /// Run these in one `ServiceGroup`, in this order (shutdown runs in reverse).
    public let services: [any Service]
    public let port: PortHandle
    public let managementPort: PortHandle
    public let health: HealthRegistry
    /// The IdP's signing keys (nil when bearer validation is off).
    public let keys: KeySetCache?
}

/// Builds authn from its configuration. Everything that can fail on a file (keystores, trust stores, PEM lists, the
/// principal pattern) fails here, before any port opens, with the one line an operator needs. An IdP that is
/// unreachable does not stop authn: health reports it and validation starts once keys arrive.
public enum AuthnApplication {
    public static func build(
        configuration: AuthnConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws -> AuthnInstance {
        var services: [any Service] = []
        do {
            return try await build(configuration: configuration, logger: logger, metrics: metrics, services: &services)
        } catch {
            // Clients made before the failure must still be shut down.
            for case let service as HTTPClientService in services {
                try? await service.client.shutdown()
            }
            throw error
        }
    }

    static func build(
        configuration: AuthnConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry, services: inout [any Service]
    ) async throws -> AuthnInstance {
        let health = HealthRegistry()

        guard let keystore = configuration.listener.keystore else {
            throw ConfigurationError(variable: "SERVER_SSL_KEY_STORE", message: "is not set; authn serves HTTPS only: expected its PKCS#12 keystore (certauth pki init writes authn.p12).")
        }
        let credential = try keystore.load().credential
        let internalTrust = try configuration.listener.trustStore?.load() ?? []

        // Bearer tokens.
        var tokens: TokenValidator?
        var keys: KeySetCache?
        if let oidc = configuration.oidc {
            let idpTrust = try oidc.idpTrustStore?.load() ?? []
            let idpTLS = try ServerTLS.clientConfiguration(credential: nil, trustRoots: idpTrust, includeSystemRoots: true)
            // Discovery and JWKS honour HTTPS_PROXY / NO_PROXY (or CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY), CONNECT.
            let idpHTTP = EgressClients(proxies: oidc.proxies) { proxy in
                var clientConfiguration = HTTPClient.Configuration(
                    tlsConfiguration: idpTLS, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
                clientConfiguration.proxy = proxy
                if proxy != nil { clientConfiguration.httpVersion = .http1Only }
                return HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration, backgroundActivityLogger: logger)
            }
            services.append(contentsOf: idpHTTP.clients.map { HTTPClientService(client: $0) } as [any Service])
            for proxy in [oidc.proxies.https, oidc.proxies.http].compactMap({ $0 }) {
                logger.info("IdP calls (discovery, JWKS) go through a proxy", metadata: [
                    LogKey.proxyURL: .string(proxy.description), LogKey.configVariable: .string(proxy.variable),
                    LogKey.proxyBypass: .string(proxy.bypass.joined(separator: ",")),
                ])
            }
            let source = JWKSSource(
                http: idpHTTP, jwkSetURI: oidc.jwkSetURI, issuer: oidc.issuer, timeout: oidc.jwksFetchTimeout,
                allowInsecureHTTP: oidc.allowInsecureHTTP, multiTenant: !oidc.allowedTenants.isEmpty)
            if oidc.allowInsecureHTTP {
                logger.warning("\(AuthnSetting.allowInsecureHTTP)=true: the IdP's discovery document and signing keys may be fetched over plain http beyond loopback, where anyone on the path can replace them and forge tokens; use it in a lab only", metadata: [
                    LogKey.jwksSource: .string(source.description),
                ])
            }
            let cache = KeySetCache(
                settings: KeySetCacheSettings(
                    refreshInterval: oidc.jwksRefreshInterval, minimumRefreshGap: oidc.jwksMinimumRefreshGap,
                    fetchTimeout: oidc.jwksFetchTimeout, jwkSetURISetting: AuthnSetting.jwkSetURI),
                logger: logger,
                fetch: { try await source.fetch() })
            keys = cache
            tokens = TokenValidator(
                settings: TokenValidationSettings(
                    issuers: oidc.issuers, audiences: oidc.audiences, leeway: oidc.leeway, maxTokenLength: oidc.maxTokenLength,
                    roleClaims: oidc.roleClaims, scopeClaims: oidc.scopeClaims, maxTokenLifetime: oidc.maxTokenLifetime,
                    allowedTenants: oidc.allowedTenants, names: AuthnSetting.tokenValidation),
                keys: cache, cache: VerifiedTokenCache())
            health.degraded("jwks", details: ["status": "not loaded yet"])
            health.requireForReadiness("jwks")   // no token can be validated without the IdP's keys
            services.append(KeySetRefresher(keys: cache, health: health, logger: logger, source: source.description, metrics: metrics))
        }

        // Client certificates.
        var certificates: ClientCertificateAuthenticator?
        if let mtls = configuration.mtls {
            let trusted = try CertificatePEM.load(files: mtls.trustedCertificateFiles, setting: AuthnSetting.mtlsTrusted)
            let intermediates = mtls.intermediateCertificateFiles.isEmpty ? []
                : try CertificatePEM.load(files: mtls.intermediateCertificateFiles, setting: AuthnSetting.mtlsIntermediates)
            let proxies = mtls.trustedProxyFiles.isEmpty ? []
                : try CertificatePEM.load(files: mtls.trustedProxyFiles, setting: AuthnSetting.mtlsTrustedProxies)
            CertificateMetrics.recordExpiration(role: "client_ca", certificates: trusted)
            CertificateMetrics.recordExpiration(role: "client_intermediate", certificates: intermediates)
            CertificateMetrics.recordExpiration(role: "trusted_proxy", certificates: proxies)
            let mapper = try SubjectPrincipalMapper(pattern: mtls.subjectPattern, setting: AuthnSetting.mtlsSubjectPattern)
            var settings = CertificateValidationSettings(
                trustedCertificates: trusted, requireValidChain: mtls.requireValidChain, purpose: .client,
                trustedCertificatesSetting: AuthnSetting.mtlsTrusted, requireValidChainSetting: AuthnSetting.mtlsRequireValidChain)
            settings.acceptsCertificateAuthorityLeaf = false  // issue 15: a CA's key signs, it does not authenticate
            settings.profile = mtls.profile
            let cache = CertificateVerdictCache()
            if mtls.usesCRL || mtls.usesOCSP {
                let store = mtls.usesCRL && !mtls.crlPaths.isEmpty
                    ? try CRLStore(paths: mtls.crlPaths, setting: AuthnSetting.mtlsCRLPaths) : nil
                // OCSP responders and CRL distribution points are mostly plain http (what they send is signed); no
                // redirects, bounded exchanges.
                var http: HTTPClient?
                if mtls.usesOCSP || (mtls.usesCRL && mtls.crlFetch) {
                    let client = HTTPClient(
                        eventLoopGroupProvider: .singleton,
                        configuration: .init(
                            tlsConfiguration: try ServerTLS.clientConfiguration(credential: nil, trustRoots: [], includeSystemRoots: true),
                            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .seconds(5))),
                        backgroundActivityLogger: logger)
                    services.append(HTTPClientService(client: client))
                    http = client
                }
                var fetcher: CRLFetcher?
                if mtls.usesCRL, mtls.crlFetch, let http {
                    let crls = CRLFetcher(
                        http: http, timeout: mtls.crlFetchTimeout, maximumBytes: mtls.crlFetchMaxBytes,
                        maximumAge: mtls.crlFetchInterval.seconds, setting: AuthnSetting.mtlsCRLFetch)
                    // A changed CRL takes the cached verdicts (and the lean path's answers, by generation) with it.
                    crls.onChange { cache.removeAll() }
                    fetcher = crls
                }
                if mtls.usesCRL {
                    services.append(CRLReloader(
                        store: store, fetcher: fetcher, cache: cache, health: health, interval: mtls.crlReloadInterval,
                        failure: mtls.revocationFailure, logger: logger))
                }
                var ocsp: OCSPClient?
                if mtls.usesOCSP, let http {
                    let client = OCSPClient(http: http)
                    ocsp = client
                    services.append(OCSPHealthReporter(client: client, health: health, failure: mtls.revocationFailure))
                }
                settings.revocation = RevocationSettings(
                    mode: mtls.revocation, failure: mtls.revocationFailure, crls: store, ocsp: ocsp, fetcher: fetcher,
                    modeSetting: AuthnSetting.mtlsRevocation, failureSetting: AuthnSetting.mtlsRevocationFailure)
                settings.revocation.byAnchorSetting = AuthnSetting.mtlsRevocationByAnchor
                settings.revocation.byAnchor = try AnchorRevocationSetting.resolve(
                    mtls.revocationByAnchor, globalFailure: mtls.revocationFailure, trustedFiles: mtls.trustedCertificateFiles,
                    variable: AuthnSetting.mtlsRevocationByAnchor)
            }
            certificates = ClientCertificateAuthenticator(
                validator: ClientCertificateValidator(settings: settings),
                mapper: mapper, configuredIntermediates: intermediates, cache: cache,
                trustedProxies: Set(proxies.map(ClientCertificateAuthenticator.thumbprint)),
                principalSource: mtls.principalSource,
                defaultRolesByAnchor: try AnchorDefaultRoles.resolve(
                    mtls.defaultRolesByAnchor, trustedFiles: mtls.trustedCertificateFiles, variable: AuthnSetting.mtlsDefaultRolesByAnchor))
            for role in mtls.defaultRoles + mtls.defaultRolesByAnchor.flatMap(\.roles) where AdminGrantAudit.isAdminLike(role) {
                AdminGrantEvent(.configuredDefault, role: role, principal: "configuration", details: [
                    LogKey.configVariable: mtls.defaultRoles.contains(role) ? AuthnSetting.mtlsDefaultRoles : AuthnSetting.mtlsDefaultRolesByAnchor,
                ]).log(to: logger)
            }
        }

        // Peers on the internal protocol: each name may stand for several replicas (see `PeerPool`).
        func peer(_ service: String, _ url: URL) throws -> InternalClient {
            let client = try InternalClient.make(
                service: service, baseURL: url, credential: credential, trustRoots: internalTrust, timeout: configuration.peerTimeout,
                logger: logger)
            services.append(PeerPoolService(pool: client.peers))
            return client
        }
        var rolesClient: InternalClient?
        var resolver: RolesResolver?
        if let url = configuration.rolesURL {
            let client = try peer(ServiceName.roles, url)
            rolesClient = client
            resolver = RolesResolver(client: client, ttl: configuration.resolveCacheTTL, health: health, logger: logger)
        }

        let authenticator = Authenticator(
            oidc: configuration.oidc, tokens: tokens, certificates: certificates,
            defaultRoles: configuration.mtls?.defaultRoles ?? [], roles: resolver, audit: AdminGrantAudit(logger: logger),
            adminRoles: Set(configuration.adminRoles), readerRoles: Set(configuration.readerRoles), logger: logger)

        // Sessions.
        var store: (any SessionStore)?
        if configuration.sessions.persistent, let database = configuration.sessions.database {
            let opened = try await SessionStores.open(database, urlSetting: AuthnSetting.databaseURL, logger: logger)
            store = opened.store
            services.append(contentsOf: opened.services)
        }
        let sessions = SessionManager(store: store, settings: configuration.sessions, logger: logger)
        services.append(SessionPurger(sessions: sessions))

        var anonymous: AnonymousAccess?
        if configuration.serviceAccountFlow, let url = configuration.tokenIssuerURL {
            let flow = ServiceAccountFlow(
                tokenIssuer: try peer(ServiceName.tokenIssuer, url),
                scope: configuration.serviceAccountScope, authenticator: authenticator, health: health)
            anonymous = AnonymousAccess(flow: flow, roles: configuration.anonymousRoles, sessions: sessions, logger: logger)
            let granted = configuration.anonymousRoles.isEmpty ? "no roles" : "the roles \(configuration.anonymousRoles.joined(separator: ", "))"
            logger.warning("\(AuthnSetting.unprotectedAPI)=true: requests without credentials are let in as anonymous callers with \(granted) (\(AuthnSetting.anonymousRoles)); the suite's service identity signs in for them once (token from token-issuer), and its own roles are never handed to them", metadata: [
                LogKey.authnTokenIssuer: .string(url.absoluteString),
                LogKey.authnAnonymousRoles: .string(configuration.anonymousRoles.joined(separator: ",")),
            ])
        }

        let internalCallers = internalTrust.isEmpty ? nil : ClientCertificateValidator(
            settings: CertificateValidationSettings(
                trustedCertificates: internalTrust, purpose: .client,
                trustedCertificatesSetting: AuthnSetting.mtlsTrusted, requireValidChainSetting: AuthnSetting.mtlsRequireValidChain))

        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        let routes = AuthnRoutes(
            configuration: configuration, authenticator: authenticator, sessions: sessions, anonymous: anonymous,
            roles: rolesClient, internalCallers: internalCallers, logger: logger,
            decisions: AuthnDecisions(metrics: metrics))
        routes.register(on: router)
        // A key that leaves the JWKS takes the lean path's answers with it (as it takes the verified-token cache's).
        keys?.onKeysRemoved { _ in routes.keyRemovals.bump() }

        // The listener: client certificates are accepted at the TLS layer, kept with their connection and validated
        // per request (see `PresentedChain`), so a refused certificate gets a 401 with the reason.
        // Reloaded without restart when the keystore, the trust store or the client-certificate trust files change
        // (SERVER_SSL_RELOAD_INTERVAL): the served certificate and the CA names sent to clients.
        let listener = configuration.listener
        let mtlsTrustFiles = configuration.mtls?.trustedCertificateFiles ?? []
        let listenerTLS = try listener.reloadableTLS(name: "authn", health: health, logger: logger, extraFiles: mtlsTrustFiles) {
            let credential = try keystore.load().credential
            var anchors = try listener.trustStore?.load() ?? []
            if !mtlsTrustFiles.isEmpty { anchors += try CertificatePEM.load(files: mtlsTrustFiles, setting: AuthnSetting.mtlsTrusted) }
            return try ServerTLS.configuration(credential: credential, clientAuth: listener.clientAuth, trustRoots: anchors)
        }
        if let reloader = listenerTLS.reloader { services.append(reloader) }
        let port = PortHandle()
        let app = try configuration.listener.application(
            name: "authn", router: router, tlsContext: listenerTLS.context, port: port, logger: logger,
            metadata: [
                LogKey.authnBearer: .stringConvertible(configuration.oidc != nil), LogKey.authnMTLS: .stringConvertible(configuration.mtls != nil),
                LogKey.authnRolesURL: .string(configuration.rolesURL?.absoluteString ?? "off"),
                LogKey.authnSessions: .string(configuration.sessions.persistent ? "persistent" : "memory"),
            ],
            clientChainCallback: configuration.listener.clientAuth == .none ? nil : PresentedChain.verificationCallback,
            immediate: routes.immediate)
        health.up("listener")
        health.requireForReadiness("listener")

        let managementPort = PortHandle()
        let management = ManagementServer.build(
            address: configuration.listener.address, port: configuration.listener.managementPort,
            health: health, metrics: metrics, logger: logger, onRunning: managementPort)
        services.append(contentsOf: [app, management] as [any Service])
        return AuthnInstance(services: services, port: port, managementPort: managementPort, health: health, keys: keys)
    }
}

/// Where the IdP's signing keys come from: the configured JWK set URI, or the `jwks_uri` of the issuer's discovery
/// document (looked up on each refresh, so a moved JWKS is followed).
struct JWKSSource: Sendable, CustomStringConvertible {
    /// Direct and proxied clients; each URL goes the way `NO_PROXY` says.
    let http: EgressClients
    let jwkSetURI: URL?
    let issuer: String?
    let timeout: Duration
    /// Plain http beyond loopback allowed for the `jwks_uri` a discovery document names.
    var allowInsecureHTTP = false
    /// An allowed tenant list is configured: a discovery document naming a multi-tenant issuer is fine.
    var multiTenant = false

    var description: String {
        jwkSetURI?.absoluteString ?? "\(issuer ?? "")/.well-known/openid-configuration"
    }

    func fetch() async throws -> [UInt8] {
        let url: String
        if let jwkSetURI {
            url = jwkSetURI.absoluteString
        } else if let issuer {
            let discovery = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
            let document = try await get("\(discovery)/.well-known/openid-configuration", what: "the discovery document")
            struct Discovery: Decodable {
                let jwks_uri: String
                let issuer: String?
            }
            let address = "\(discovery)/.well-known/openid-configuration"
            guard let parsed = try? JSONDecoder().decode(Discovery.self, from: Data(document)) else {
                throw JWKSSourceError(message: "the discovery document at \(address) has no jwks_uri; set CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI")
            }
            if let refusal = IdPTransport.refusal(parsed.jwks_uri, field: "jwks_uri", document: address, allowInsecure: allowInsecureHTTP, optIn: AuthnSetting.allowInsecureHTTP) {
                throw JWKSSourceError(message: refusal)
            }
            if !multiTenant, let named = parsed.issuer, TokenValidationSettings.tenantPlaceholder(in: named) != nil {
                throw JWKSSourceError(message: "the discovery document at \(address) names the multi-tenant issuer '\(named.prefix(200))', which no token carries; set \(AuthnSetting.allowedTenants) to the tenant ids whose tokens are accepted, or \(AuthnSetting.issuer) to one tenant's issuer")
            }
            url = parsed.jwks_uri
        } else {
            throw JWKSSourceError(message: "no JWK set URI and no issuer configured")
        }
        return try await get(url, what: "the JWKS")
    }

    private func get(_ url: String, what: String) async throws -> [UInt8] {
        let response: HTTPClientResponse
        let (client, proxy) = http.client(for: url)
        do {
            response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(max(1, timeout.components.seconds)))
        } catch {
            let through = proxy.map { " through proxy \($0.description) (\($0.variable); NO_PROXY lists the hosts reached directly)" } ?? ""
            throw JWKSSourceError(message: "could not fetch \(what) from \(url)\(through): \(InternalClient.describe(error))")
        }
        guard response.status == .ok else {
            throw JWKSSourceError(message: "\(url) answered \(response.status.code) for \(what)")
        }
        do {
            return Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        } catch {
            throw JWKSSourceError(message: "could not read \(what) from \(url) (larger than 1 MiB or cut off)")
        }
    }
}

struct JWKSSourceError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Loads the IdP's keys at start (without stopping authn when the IdP is down), refreshes them in the background,
/// and keeps the `jwks` health component current.
struct KeySetRefresher: Service {
    let keys: KeySetCache
    let health: HealthRegistry
    let logger: Logger
    let source: String
    /// `certauth_jwks_last_success_timestamp_seconds` and `certauth_jwks_refresh_failures_total` (alerts: JWKS stale,
    /// IdP failing), brought up to date with the health component every 5 s.
    let lastSuccess: Prometheus.Gauge
    let failures: Prometheus.Counter

    init(keys: KeySetCache, health: HealthRegistry, logger: Logger, source: String, metrics: PrometheusCollectorRegistry) {
        self.keys = keys
        self.health = health
        self.logger = logger
        self.source = source
        self.lastSuccess = metrics.makeGauge(descriptor: MetricsCatalog.descriptor("certauth_jwks_last_success_timestamp_seconds"))
        self.failures = metrics.makeCounter(descriptor: MetricsCatalog.descriptor("certauth_jwks_refresh_failures_total"))
    }

    func run() async throws {
        do {
            try await keys.refresh()
        } catch {
            logger.warning("IdP signing keys not available at start; bearer tokens are refused with 503 until they arrive", error: error, metadata: [
                LogKey.jwksSource: .string(source),
            ])
        }
        let counted = await report(counted: 0)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await keys.runPeriodicRefresh() }
                group.addTask {
                    var counted = counted
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(5))
                        counted = await report(counted: counted)
                    }
                }
                await group.waitForAll()
            }
        }
    }

    /// Updates health and metrics; `counted` is how many failures the counter holds, the answer how many it holds now.
    private func report(counted: Int) async -> Int {
        let status = await keys.status
        if status.failures > counted { failures.increment(by: Int64(status.failures - counted)) }
        var details = ["source": source, "keys": String(status.keyCount)]
        if let success = status.lastSuccess {
            details["last_refresh"] = RFC3339.string(success)
            lastSuccess.set(success.timeIntervalSince1970)
        }
        if let error = status.lastError { details["last_error"] = error }
        if status.keyCount > 0 {
            health.up("jwks", details: details)
        } else {
            health.degraded("jwks", details: details)
        }
        return max(counted, status.failures)
    }
}
