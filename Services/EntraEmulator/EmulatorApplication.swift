import AuthProtocol
import CertificateValidation
import Crypto
import Foundation
import HTTPTypes
import AsyncHTTPClient
import Hummingbird
import JOSE
import HummingbirdHTTP2
import Keystore
import Logging
import NIOCore
import NIOSSL
import Prometheus
import ServiceClient
import ServiceLifecycle
import ServiceSupport
import Synchronization
import WireFormat
import X509
import _CryptoExtras

/// A built emulator: services to run and handles on what they bind.
public struct EmulatorInstance: Sendable {
    public let services: [any Service]
    public let port: PortHandle
    public let managementPort: PortHandle
    public let control: EmulatorControl
    public let keys: SigningKeys
    /// The app registrations, as Graph addKey/removeKey change them.
    public let apps: AppRegistryStore
}

/// The entra-emulator: Entra ID v2.0 discovery, JWKS and token endpoint over HTTPS, for development and tests.
public enum EmulatorApplication {
    public static func build(
        configuration: EmulatorConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws -> EmulatorInstance {
        let registry = try AppRegistry.load(path: configuration.appsPath)
        var tls = try configuration.listener.tlsConfiguration()
        var clientCertificates: ClientCertificateCheck?
        var verificationCallback: HummingbirdHTTP2.TLSChannelConfiguration.CustomVerificationCallback?
        if let clientCAPath = configuration.clientCAPath {
            let anchors = try CertificatePEM.load(files: [clientCAPath], setting: "ENTRA_EMULATOR_CLIENT_CA")
            CertificateMetrics.recordExpiration(role: "client_ca", certificates: anchors)
            let check = ClientCertificateCheck(anchors: anchors)
            clientCertificates = check
            // Ask for client certificates without requiring them; accept any chain at the TLS layer (recording the
            // intermediates) and check it per request, so that a refusal is an OAuth error that says why.
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .certificates(try anchors.map { try NIOSSLCertificate(bytes: try CertificateThumbprint.derBytes($0), format: .der) })
            tls.sendCANameList = true
            verificationCallback = check.verificationCallback()
        }
        for app in registry.apps.values where (app.tlsClientAuth != nil || app.certificateBoundTokens) && clientCertificates == nil {
            let feature = app.tlsClientAuth != nil ? "uses tls_client_auth" : "asks for certificate-bound tokens"
            throw RegistryError("App \(app.clientID) \(feature), but ENTRA_EMULATOR_CLIENT_CA is not set; set it to the PEM bundle of the CA(s) that issue client certificates, so that the listener asks for them.")
        }
        // Federated credentials: the external issuers' discovery documents and JWKS, over HTTPS.
        let extraRoots = try configuration.trustStorePath.map {
            try TrustStoreLoader.load(path: $0, password: nil, type: "PEM", setting: "ENTRA_EMULATOR_TRUSTSTORE_PATH")
        } ?? []
        let federationTLS = try ServerTLS.clientConfiguration(credential: nil, trustRoots: extraRoots, includeSystemRoots: true)
        let federationHTTP = EgressClients(proxies: configuration.proxies) { proxy in
            var clientConfiguration = HTTPClient.Configuration(
                tlsConfiguration: federationTLS, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
            clientConfiguration.proxy = proxy
            if proxy != nil { clientConfiguration.httpVersion = .http1Only }
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration, backgroundActivityLogger: logger)
        }
        let federation = FederationVerifier(egress: federationHTTP)
        let keys = try SigningKeys()
        let control = EmulatorControl()
        let base = Mutex<String?>(configuration.baseURL)
        let apps = AppRegistryStore(registry)
        let health = HealthRegistry()

        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        let routes = EmulatorRoutes(
            registry: registry, apps: apps, configuration: configuration, keys: keys, control: control, clientCertificates: clientCertificates,
            federation: federation, baseURL: { base.withLock { $0 } ?? "https://localhost:\(configuration.listener.port)" })
        routes.register(on: router)

        // The same serving core as every service (libnghttp2 for HTTP/2, HTTP/1.1 for curl), on one request path.
        let port = PortHandle()
        let app = try configuration.listener.application(
            name: "entra-emulator", router: router,
            tls: .init(tlsConfiguration: tls, customVerificationCallback: verificationCallback), port: port, logger: logger,
            metadata: [LogKey.entraTenantID: .string(registry.tenantID), LogKey.entraApps: .stringConvertible(registry.apps.count)],
            onBound: { bound in
                let url = base.withLock { base in
                    if base == nil { base = "https://localhost:\(bound)" }
                    return base ?? ""
                }
                return [LogKey.oidcIssuer: .string("\(url)/\(registry.tenantID)/v2.0")]
            })
        health.up("listener", details: ["tenant_id": registry.tenantID])
        health.requireForReadiness("listener")
        let managementPort = PortHandle()
        let management = ManagementServer.build(
            address: configuration.listener.address, port: configuration.listener.managementPort,
            health: health, metrics: metrics, logger: logger, onRunning: managementPort,
            routes: { EmulatorRoutes.registerTestHooks(on: $0, control: control, keys: keys, apps: apps) })
        return EmulatorInstance(
            services: [app, management] + federationHTTP.clients.map { HTTPClientService(client: $0) }, port: port,
            managementPort: managementPort, control: control, keys: keys, apps: apps)
    }
}

struct EmulatorRoutes: Sendable {
    /// The registrations as loaded (tenant id); the app keys change at run time in `apps`.
    let registry: AppRegistry
    let apps: AppRegistryStore
    let configuration: EmulatorConfiguration
    let keys: SigningKeys
    let control: EmulatorControl
    /// Set when `ENTRA_EMULATOR_CLIENT_CA` is configured (tls_client_auth and the mTLS endpoint alias).
    let clientCertificates: ClientCertificateCheck?
    let federation: FederationVerifier
    let baseURL: @Sendable () -> String

    func register(on router: Router<ServiceRequestContext>) {
        router.get("/:tenant/v2.0/.well-known/openid-configuration") { _, context in
            let tenant = context.parameters.get("tenant") ?? ""
            guard tenant.lowercased() == registry.tenantID.lowercased() else {
                throw EntraRefusal(EntraFailure(error: "invalid_tenant", code: 90002, message: "Tenant '\(tenant)' not found."), baseURL: baseURL())
            }
            return JSONResponse.make(.ok, discovery(tenant: registry.tenantID))
        }
        router.get("/:tenant/discovery/v2.0/keys") { _, context in
            try await jwks(context: context)
        }
        router.get("/:tenant/discovery/keys") { _, context in
            try await jwks(context: context)
        }
        router.post("/:tenant/oauth2/v2.0/token") { request, context in
            try await token(request: request, context: context)
        }
        // Microsoft Graph's application key roll-over (addKey/removeKey) and the application's key credentials.
        router.post("/v1.0/applications/:id/addKey") { request, context in
            try await addKey(request: request, context: context, selector: context.parameters.get("id") ?? "")
        }
        router.post("/v1.0/applications/:id/removeKey") { request, context in
            try await removeKey(request: request, context: context, selector: context.parameters.get("id") ?? "")
        }
        router.get("/v1.0/applications/:id") { request, context in
            try await application(request: request, context: context, selector: context.parameters.get("id") ?? "")
        }
        // `/v1.0/applications(appId='…')/addKey`: the appId addressing is one path segment.
        router.post("/v1.0/:segment/addKey") { request, context in
            try await addKey(request: request, context: context, selector: Self.appIDSelector(context.parameters.get("segment")))
        }
        router.post("/v1.0/:segment/removeKey") { request, context in
            try await removeKey(request: request, context: context, selector: Self.appIDSelector(context.parameters.get("segment")))
        }
        router.get("/v1.0/:segment") { request, context in
            try await application(request: request, context: context, selector: Self.appIDSelector(context.parameters.get("segment")))
        }
        if clientCertificates != nil {
            // RFC 8705 §5 alias: the same endpoint, advertised for clients that authenticate with their certificate.
            router.post("/:tenant/oauth2/v2.0/mtls/token") { request, context in
                try await token(request: request, context: context, mtlsAlias: true)
            }
        }
    }

    /// The test hooks: on the management port only (plain HTTP, not published), never on the public HTTPS
    /// listener, where any caller could reset counters, inject faults or rotate the signing key.
    static func registerTestHooks(on router: Router<BasicRequestContext>, control: EmulatorControl, keys: SigningKeys, apps: AppRegistryStore) {
        // The certificates registered on an app now (thumbprints and Graph key ids), as addKey/removeKey left them.
        router.get("/_emulator/apps/:client/keys") { _, context in
            let client = (context.parameters.get("client") ?? "").lowercased()
            guard let app = await apps.snapshot().apps[client] else {
                return JSONResponse.make(.notFound, ["error": "no app with client id \(client.prefix(80))"])
            }
            struct Key: Encodable {
                var keyId: String; var x5tS256: String; var displayName: String
                enum CodingKeys: String, CodingKey { case keyId = "key_id", x5tS256 = "x5t#S256", displayName = "display_name" }
            }
            return JSONResponse.make(.ok, app.certificates.map { Key(keyId: $0.keyID, x5tS256: $0.x5tS256, displayName: $0.displayName) })
        }
        router.get("/_emulator/stats") { _, _ in
            JSONResponse.make(.ok, await control.snapshot())
        }
        router.post("/_emulator/reset") { _, _ in
            await control.reset()
            return JSONResponse.make(.ok, ["status": "reset"])
        }
        router.post("/_emulator/faults") { request, context in
            let buffer = try await request.body.collect(upTo: 16 * 1024)
            guard let fault = try? JSONDecoder().decode(EmulatorControl.Fault.self, from: Data(buffer.readableBytesView)) else {
                return JSONResponse.make(.badRequest, ["error": "expected {\"status\": 503, \"count\": 1, \"retry_after\": 1, \"error_codes\": [700027]}"])
            }
            await control.inject(fault)
            return JSONResponse.make(.ok, ["status": "injected"])
        }
        router.post("/_emulator/rotate-signing-key") { request, _ in
            let keepPrevious = request.uri.queryParameters.get("keep_previous") != "false"
            let kid = try await keys.rotate(keepPrevious: keepPrevious)
            return JSONResponse.make(.ok, ["kid": kid])
        }
    }

    struct Discovery: Encodable {
        var issuer: String
        var tokenEndpoint: String
        var jwksURI: String
        var authorizationEndpoint: String
        var responseTypesSupported = ["code", "id_token", "code id_token", "id_token token"]
        var subjectTypesSupported = ["pairwise"]
        var idTokenSigningAlgValuesSupported = ["RS256"]
        var tokenEndpointAuthMethodsSupported = ["client_secret_post", "private_key_jwt", "client_secret_basic"]
        var tokenEndpointAuthSigningAlgValuesSupported = ["RS256", "PS256"]
        var grantTypesSupported = ["client_credentials"]
        var tenantRegionScope = "EU"
        var mtlsEndpointAliases: [String: String]?
        var tlsClientCertificateBoundAccessTokens: Bool?
        enum CodingKeys: String, CodingKey {
            case mtlsEndpointAliases = "mtls_endpoint_aliases"
            case tlsClientCertificateBoundAccessTokens = "tls_client_certificate_bound_access_tokens"
            case issuer
            case tokenEndpoint = "token_endpoint", jwksURI = "jwks_uri", authorizationEndpoint = "authorization_endpoint"
            case responseTypesSupported = "response_types_supported", subjectTypesSupported = "subject_types_supported"
            case idTokenSigningAlgValuesSupported = "id_token_signing_alg_values_supported"
            case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
            case tokenEndpointAuthSigningAlgValuesSupported = "token_endpoint_auth_signing_alg_values_supported"
            case grantTypesSupported = "grant_types_supported", tenantRegionScope = "tenant_region_scope"
        }
    }

    func discovery(tenant: String) -> Discovery {
        let base = baseURL()
        var document = Discovery(
            issuer: "\(base)/\(tenant)/v2.0",
            tokenEndpoint: "\(base)/\(tenant)/oauth2/v2.0/token",
            jwksURI: "\(base)/\(tenant)/discovery/v2.0/keys",
            authorizationEndpoint: "\(base)/\(tenant)/oauth2/v2.0/authorize")
        if clientCertificates != nil {
            document.tokenEndpointAuthMethodsSupported.append("tls_client_auth")
            document.mtlsEndpointAliases = ["token_endpoint": "\(base)/\(tenant)/oauth2/v2.0/mtls/token"]
            document.tlsClientCertificateBoundAccessTokens = true
        }
        return document
    }

    func jwks(context: ServiceRequestContext) async throws -> Response {
        struct JWKS: Encodable { var keys: [JSONValue] }
        let issuer = "\(baseURL())/\(registry.tenantID)/v2.0"
        var out: [JSONValue] = []
        for key in await keys.published() {
            // Entra's shape: the RSA members, use, kid, x5t (the kid) and the issuer.
            var members = try VerificationKey.rsa(key.privateKey.publicKey).jwkMembers()
            members["use"] = .string("sig")
            members["kid"] = .string(key.kid)
            members["x5t"] = .string(key.kid)
            members["issuer"] = .string(issuer)
            out.append(.object(members))
        }
        return JSONResponse.make(.ok, JWKS(keys: out))
    }

    func token(request: Request, context: ServiceRequestContext, mtlsAlias: Bool = false) async throws -> Response {
        let tenant = context.parameters.get("tenant") ?? ""
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        let (form, formRefusal) = TokenEndpointLogic.readForm(String(decoding: buffer.readableBytesView, as: UTF8.self))
        await control.recordRequest(clientID: form["client_id"], mtlsEndpoint: mtlsAlias)
        if let fault = await control.nextFault() {
            if let delay = fault.delay { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
            await control.recordFailure()
            var headers: HTTPFields = [:]
            if let retryAfter = fault.retryAfter { headers[.retryAfter] = String(retryAfter) }
            let code = fault.errorCodes?.first ?? 50000
            throw EntraRefusal(
                EntraFailure(status: fault.status, error: fault.error ?? (fault.status >= 500 ? "temporarily_unavailable" : "invalid_request"),
                             code: code, message: "Injected fault."),
                codes: fault.errorCodes ?? [code], headers: headers, baseURL: baseURL())
        }
        let registry = await apps.snapshot()
        let logic = TokenEndpointLogic(
            registry: registry, issuerBase: baseURL(), tokenLifetime: configuration.tokenLifetime, clockSkew: configuration.clockSkew)
        do {
            var presented: PresentedCertificate?
            if let leaf = await context.peerCertificate() {
                presented = await clientCertificates?.check(leaf: leaf)
                    ?? PresentedCertificate(
                        leaf: leaf, thumbprint: ClientCertificateCheck.thumbprint(leaf),
                        verification: .untrusted(reason: "the emulator has no ENTRA_EMULATOR_CLIENT_CA to check client certificates with"))
            }
            var federated: FederatedOutcome?
            if let assertion = form["client_assertion"], let clientID = form["client_id"],
               let app = registry.apps[clientID.lowercased()], tenant.lowercased() == registry.tenantID.lowercased(),
               FederationVerifier.isFederated(assertion, clientID: clientID) {
                federated = await federation.verify(assertion, app: app, now: Date(), clockSkew: configuration.clockSkew)
            }
            try TokenEndpointLogic.refuse(formRefusal)
            let issued = try logic.handle(
                tenant: tenant, form: form, basicAuth: basicAuth(request), key: await keys.signingKey(), now: Date(),
                presented: presented, federated: federated)
            await control.recordIssued()
            var federatedName = ""
            if case .accepted(let name)? = federated { federatedName = name }
            context.logger.info("Token issued", metadata: [
                LogKey.clientID: .string(issued.clientID), LogKey.scope: .string(form["scope"] ?? ""),
                LogKey.entraFederatedCredential: .string(federatedName),
                LogKey.tlsClientX5tS256: .string(presented?.thumbprint ?? ""),
            ])
            struct Success: Encodable {
                var tokenType = "Bearer"; var expiresIn: Int; var extExpiresIn: Int; var refreshIn: Int?; var accessToken: String
                enum CodingKeys: String, CodingKey {
                    case tokenType = "token_type", expiresIn = "expires_in", extExpiresIn = "ext_expires_in", refreshIn = "refresh_in"
                    case accessToken = "access_token"
                }
            }
            // Entra advises a refresh at half the lifetime of tokens that live longer than an hour (MSAL honours it).
            let refreshIn = issued.expiresIn > 3600 ? issued.expiresIn / 2 : nil
            return JSONResponse.make(.ok, Success(
                expiresIn: issued.expiresIn, extExpiresIn: issued.expiresIn, refreshIn: refreshIn, accessToken: issued.accessToken))
        } catch {
            await control.recordFailure()
            context.logger.notice("Token request refused", metadata: [
                LogKey.clientID: .string(form["client_id"] ?? ""), LogKey.entraAADSTS: .stringConvertible(error.code),
                LogKey.oauthError: .string(error.error),
            ])
            let correlation = request.headers[.clientRequestID]
            throw EntraRefusal(error, correlationID: correlation, baseURL: baseURL())
        }
    }

    // MARK: Microsoft Graph: application key roll-over

    /// `applications(appId='…')` → `(appId='…')`; anything else matches no application.
    static func appIDSelector(_ segment: String?) -> String {
        guard let segment, segment.lowercased().hasPrefix("applications(") else { return "\u{0}" }
        return String(segment.dropFirst("applications".count))
    }

    private var graphLogic: GraphKeyLogic {
        GraphKeyLogic(issuer: "\(baseURL())/\(registry.tenantID)/v2.0", clockSkew: configuration.clockSkew)
    }

    func addKey(request: Request, context: ServiceRequestContext, selector: String) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        do throws(GraphFailure) {
            guard let body = try? JSONDecoder().decode(AddKeyBody.self, from: Data(buffer.readableBytesView)) else {
                throw GraphFailure(status: 400, code: "Request_BadRequest", message: "The request body must be JSON: {\"keyCredential\": {\"type\": \"AsymmetricX509Cert\", \"usage\": \"Verify\", \"key\": \"<base64 DER>\"}, \"passwordCredential\": null, \"proof\": \"<JWT>\"}.")
            }
            let now = Date()
            let app = try await graphApplication(selector)
            try graphLogic.checkAccessToken(request.headers[.authorization], app: app, keys: await keys.published(), now: now)
            let signer = try graphLogic.checkProof(body.proof, app: app, now: now)
            let added = try graphLogic.newCertificate(body)
            try await apps.add(added, clientID: app.clientID)
            let registered = added
            context.logger.notice("Graph addKey: certificate registered", metadata: [
                LogKey.clientID: .string(app.clientID), LogKey.graphKeyID: .string(registered.keyID),
                LogKey.certificateX5tS256: .string(registered.x5tS256), LogKey.proofX5tS256: .string(signer.x5tS256),
            ])
            return JSONResponse.make(.ok, GraphKeyCredential(registered))
        } catch {
            throw refused(error, context: context, action: "addKey")
        }
    }

    func removeKey(request: Request, context: ServiceRequestContext, selector: String) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        do throws(GraphFailure) {
            guard let body = try? JSONDecoder().decode(RemoveKeyBody.self, from: Data(buffer.readableBytesView)) else {
                throw GraphFailure(status: 400, code: "Request_BadRequest", message: "The request body must be JSON: {\"keyId\": \"<guid>\", \"proof\": \"<JWT>\"}.")
            }
            guard let keyID = body.keyId?.lowercased(), UUID(uuidString: keyID) != nil else {
                throw GraphFailure(status: 400, code: "Request_BadRequest", message: "The 'keyId' parameter must be the GUID of a key credential of the application.")
            }
            let now = Date()
            let app = try await graphApplication(selector)
            try graphLogic.checkAccessToken(request.headers[.authorization], app: app, keys: await keys.published(), now: now)
            let signer = try graphLogic.checkProof(body.proof, app: app, now: now)
            let removed = try await apps.remove(keyID: keyID, clientID: app.clientID)
            context.logger.notice("Graph removeKey: certificate removed", metadata: [
                LogKey.clientID: .string(app.clientID), LogKey.graphKeyID: .string(keyID),
                LogKey.certificateX5tS256: .string(removed.x5tS256), LogKey.proofX5tS256: .string(signer.x5tS256),
            ])
            return Response(status: .noContent)
        } catch {
            throw refused(error, context: context, action: "removeKey")
        }
    }

    /// `GET /v1.0/applications/{id}`: id, appId, displayName and keyCredentials (never key material).
    func application(request: Request, context: ServiceRequestContext, selector: String) async throws -> Response {
        do throws(GraphFailure) {
            let app = try await graphApplication(selector)
            try graphLogic.checkAccessToken(request.headers[.authorization], app: app, keys: await keys.published(), now: Date())
            struct Application: Encodable { var id: String; var appId: String; var displayName: String; var keyCredentials: [GraphKeyCredential] }
            return JSONResponse.make(.ok, Application(
                id: app.applicationObjectID, appId: app.clientID, displayName: app.name, keyCredentials: app.certificates.map(GraphKeyCredential.init)))
        } catch {
            throw refused(error, context: context, action: "get application")
        }
    }

    private func graphApplication(_ selector: String) async throws(GraphFailure) -> AppRegistration {
        guard let app = GraphKeyLogic.application(selector, in: await apps.snapshot()) else {
            throw GraphFailure(status: 404, code: "Request_ResourceNotFound", message: "Resource '\(selector.prefix(80))' does not exist or one of its queried reference-property objects are not present.")
        }
        return app
    }

    /// Logs a Graph refusal and hands it back for the route to throw (``GraphFailure`` writes the answer).
    func refused(_ failure: GraphFailure, context: ServiceRequestContext, action: String) -> GraphFailure {
        context.logger.notice("Graph \(action) refused", metadata: [
            LogKey.graphErrorCode: .string(failure.code), LogKey.graphErrorMessage: .string(failure.message),
        ])
        return failure
    }

    func basicAuth(_ request: Request) -> (String, String)? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(header.dropFirst(6))),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        let user = String(text[..<colon]).removingPercentEncoding ?? ""
        let password = String(text[text.index(after: colon)...]).removingPercentEncoding ?? ""
        return (user, password)
    }
}
