import AsyncHTTPClient
import AuthProtocol
import ClientAssertion
import Foundation
import JOSE
import Hummingbird
import HummingbirdHTTP2
import Keystore
import Logging
import NIOSSL
import Prometheus
import ServiceClient
import ServiceLifecycle
import ServiceSupport
import Settings

/// A built token-issuer: the services to run, and handles on what they bind.
public struct TokenIssuerInstance: Sendable {
    /// Run these in one `ServiceGroup`, in this order (shutdown runs in reverse).
    public let services: [any Service]
    /// The HTTPS listener's port once bound.
    public let port: PortHandle
    /// The management listener's port once bound.
    public let managementPort: PortHandle
    public let health: HealthRegistry
    public let cache: TokenCache
    /// The client certificate; nil with a secret method and no keystore.
    public let credentials: CredentialStore?
}

/// Builds token-issuer from its configuration. Validates everything that can fail (keystores, trust stores)
/// before any port opens, throwing the one-line error an operator needs.
public enum TokenIssuerApplication {
    public static func build(
        configuration: TokenIssuerConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws -> TokenIssuerInstance {
        let health = HealthRegistry()
        let algorithm = configuration.assertion.algorithm.rawValue
        var credentials: CredentialStore?
        if let source = configuration.keystore {
            credentials = try CredentialStore(
                source: source, next: configuration.nextKeystore, algorithm: algorithm, logger: logger, health: health,
                probeNewCertificates: configuration.rotation == nil)
        }
        if case .file(let file) = configuration.assertionSource {
            // Checked once at start so that a wrong path stops the start with its fix; read again for every exchange.
            do {
                _ = try file.read()
                health.up("assertion_file", details: ["path": file.path])
            } catch {
                throw ConfigurationError(variable: TokenIssuerSetting.assertionFile, message: "\(error.body.errorDescription); \(error.body.hint ?? "")")
            }
            logger.info("Client assertions come from the federated token file, read for every exchange", metadata: [
                LogKey.assertionFile: .string(file.path), LogKey.assertionAudience: .string(file.audience ?? "(not checked)"),
            ])
        }
        if !configuration.clientAuthenticationMethod.usesCertificate {
            logger.warning("token-issuer authenticates to the IdP with a client secret; migrate to private_key_jwt or tls_client_auth (see docs/x509-client-auth.md)", metadata: [
                LogKey.clientAuthentication: .string(configuration.clientAuthenticationMethod.rawValue),
            ])
        }

        if configuration.allowInsecureHTTP {
            logger.warning("\(TokenIssuerSetting.allowInsecureHTTP)=true: the discovery document and the token endpoint may be reached over plain http beyond loopback, where anyone on the path can read the client's credentials and the tokens; use it in a lab only", metadata: [
                LogKey.idpURL: .string((configuration.tokenURI ?? configuration.issuerBackendURL)?.absoluteString ?? ""),
            ])
        }
        let listenerTLS = try configuration.listener.reloadableTLS(name: "token-issuer", health: health, logger: logger)

        let idpTrust = try configuration.idpTrustStore?.load() ?? []
        let clientTLS = try ServerTLS.clientConfiguration(credential: nil, trustRoots: idpTrust, includeSystemRoots: true)
        let egress = EgressClients(proxies: (configuration.httpsProxy, configuration.httpProxy)) { proxy in
            var clientConfiguration = HTTPClient.Configuration(
                tlsConfiguration: clientTLS,
                redirectConfiguration: .disallow,
                timeout: .init(
                    connect: .seconds(configuration.connectTimeout.components.seconds),
                    read: .seconds(configuration.readTimeout.components.seconds)))
            clientConfiguration.proxy = proxy
            // HTTP/1.1 inside the CONNECT tunnel: the conservative choice behind inspecting corporate proxies.
            if proxy != nil { clientConfiguration.httpVersion = .http1Only }
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration, backgroundActivityLogger: logger)
        }
        for proxy in [configuration.httpsProxy, configuration.httpProxy].compactMap({ $0 }) {
            logger.info("IdP calls go through a proxy", metadata: [
                LogKey.proxyURL: .string(proxy.description), LogKey.configVariable: .string(proxy.variable),
                LogKey.proxyBypass: .string(proxy.bypass.joined(separator: ",")),
            ])
        }

        let endpoint = TokenEndpointClient(
            configuration: configuration, credentials: credentials, egress: egress, logger: logger, health: health,
            idpTrustRoots: idpTrust)
        let cache = TokenCache(logger: logger) { scope in try await endpoint.exchange(scope: scope) }

        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        let routes = TokenIssuerRoutes(
            configuration: configuration, cache: cache, endpoint: endpoint, credentials: credentials,
            handouts: TokenIssuerRoutes.handOutCounters(configuration: configuration, metrics: metrics))
        routes.register(on: router)

        let port = PortHandle()
        let app = try configuration.listener.application(
            name: "token-issuer", router: router, tlsContext: listenerTLS.context, port: port, logger: logger,
            immediate: TokenIssuerImmediate(answers: routes.answers, handouts: routes.handouts))
        health.up("listener")
        health.requireForReadiness("listener")
        if credentials != nil {
            // The client credential loaded; DEGRADED (a reload failed, the previous one still signs) still serves.
            health.requireForReadiness("keystore", allowDegraded: true)
        }

        let managementPort = PortHandle()
        let management = ManagementServer.build(
            address: configuration.listener.address, port: configuration.listener.managementPort,
            health: health, metrics: metrics, logger: logger, onRunning: managementPort)

        let discovery = DiscoveryWarmup(endpoint: endpoint, logger: logger)
        var services: [any Service] = egress.clients.map { HTTPClientService(client: $0) } + [discovery]
        if let credentials {
            services.append(CredentialReloader(store: credentials, interval: configuration.keystoreReloadInterval))
        }
        if let rotationSettings = configuration.rotation, let credentials {
            let rotation = KeyRotation(
                settings: rotationSettings, store: credentials, endpoint: endpoint, cache: cache, egress: egress,
                defaultScope: configuration.defaultScope, timeout: configuration.connectTimeout + configuration.readTimeout,
                pollInterval: configuration.keystoreReloadInterval > .zero ? configuration.keystoreReloadInterval : .seconds(60),
                logger: logger, health: health)
            services.append(KeyRotationService(
                rotation: rotation,
                interval: configuration.keystoreReloadInterval > .zero ? configuration.keystoreReloadInterval : .seconds(60)))
            logger.info("Zero-touch certificate rotation at Entra is on", metadata: [
                LogKey.graphURL: .string(rotationSettings.graphURL.absoluteString),
                LogKey.applicationObjectID: .string(rotationSettings.applicationObjectID),
                LogKey.rotationGracePeriodSeconds: .stringConvertible(rotationSettings.gracePeriod.components.seconds),
            ])
        }
        if let reloader = listenerTLS.reloader { services.append(reloader) }
        services += [app, management] as [any Service]
        return TokenIssuerInstance(
            services: services,
            port: port, managementPort: managementPort, health: health, cache: cache, credentials: credentials)
    }
}

/// Looks up the token endpoint once at start so a wrong issuer URL shows in the log and in health right away.
/// Never stops the service: an IdP that is down at start is retried on the first token request.
struct DiscoveryWarmup: Service {
    let endpoint: TokenEndpointClient
    let logger: Logger

    func run() async throws {
        do {
            _ = try await endpoint.tokenEndpoint()
        } catch {
            logger.warning("Token endpoint not reachable at start; will retry on the first request", error: error)
        }
        try? await gracefulShutdown()
    }
}
