import AsyncHTTPClient
import AuthProtocol
import ClientAssertion
import Foundation
import JOSE
import Keystore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceClient
import ServiceSupport
import Tracing
import WireFormat
import X509

/// A token the IdP issued. `accessToken` is a secret.
public struct FetchedToken: Sendable {
    public var accessToken: String
    /// Seconds of validity the IdP granted (`expires_in`).
    public var expiresIn: Int
    public var scope: String
    /// Seconds after which the IdP advises a refresh (`refresh_in`, which Entra sends for tokens of an hour or more);
    /// nil: the cache's own margin applies.
    public var refreshIn: Int?

    public init(accessToken: String, expiresIn: Int, scope: String, refreshIn: Int? = nil) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
        self.scope = scope
        self.refreshIn = refreshIn
    }
}

/// Talks to the IdP: finds the token endpoint (OIDC discovery, cached), signs a fresh assertion for every attempt,
/// posts the client-credentials request, classifies failures and retries the ones worth retrying.
public actor TokenEndpointClient {
    private let configuration: TokenIssuerConfiguration
    private let credentials: CredentialStore?
    private let egress: EgressClients
    private let logger: Logger
    private let health: HealthRegistry?
    private var discoveredEndpoint: String?
    /// RFC 8705 §5 `mtls_endpoint_aliases.token_endpoint` from discovery, used for tls_client_auth.
    private var discoveredMTLSEndpoint: String?
    /// CAs trusted for HTTPS to the IdP (besides the system roots), for the per-request mTLS configuration.
    private let idpTrustRoots: [Certificate]
    /// The TLS configuration presenting the current credential (tls_client_auth), rebuilt when the certificate rotates.
    /// Built once per certificate so that AsyncHTTPClient keeps reusing one connection pool for it.
    private var mutualTLS: (thumbprint: [UInt8], configuration: TLSConfiguration)?
    private let exchanges = Counter(label: "certauth_token_exchanges_total")
    private let exchangeFailures = Counter(label: "certauth_token_exchange_failures_total")
    private let fallbacks = Counter(label: "certauth_credential_fallbacks_total")

    public init(configuration: TokenIssuerConfiguration, credentials: CredentialStore?, http: HTTPClient,
                logger: Logger, health: HealthRegistry? = nil, idpTrustRoots: [Certificate] = []) {
        self.init(configuration: configuration, credentials: credentials, egress: EgressClients(direct: http), logger: logger,
                  health: health, idpTrustRoots: idpTrustRoots)
    }

    /// - Parameter egress: the direct client and the proxied ones (`HTTPS_PROXY`, `NO_PROXY`, the IdP proxy setting).
    public init(configuration: TokenIssuerConfiguration, credentials: CredentialStore?, egress: EgressClients,
                logger: Logger, health: HealthRegistry? = nil, idpTrustRoots: [Certificate] = []) {
        self.idpTrustRoots = idpTrustRoots
        self.configuration = configuration
        self.credentials = credentials
        self.egress = egress
        self.logger = logger
        self.health = health
        self.discoveredEndpoint = configuration.tokenURI?.absoluteString
    }

    /// The IdP's host, for messages.
    nonisolated var idpHost: String {
        (configuration.tokenURI ?? configuration.issuerBackendURL).flatMap { $0.host } ?? "the IdP"
    }

    /// The token endpoint: explicit, or from `<issuer>/.well-known/openid-configuration` (fetched once, retried until it works).
    public func tokenEndpoint() async throws(TokenIssuanceError) -> String {
        if let discoveredEndpoint { return discoveredEndpoint }
        guard let issuer = configuration.issuerBackendURL else {
            throw TokenIssuanceError.unreachable(idp: idpHost, reason: "no issuer or token endpoint configured")
        }
        let base = issuer.absoluteString.hasSuffix("/") ? String(issuer.absoluteString.dropLast()) : issuer.absoluteString
        let url = base + "/.well-known/openid-configuration"
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let status: UInt
        let body: ByteBuffer
        let (http, proxy) = egress.client(for: url)
        do {
            let response = try await http.execute(request, timeout: .seconds(Int64(timeoutSeconds)))
            status = response.status.code
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            health?.degraded("idp", details: ["reason": "discovery failed: \(describe(error))", "url": url])
            throw TokenIssuanceError.unreachable(idp: idpHost, reason: "OIDC discovery at \(url)\(Self.through(proxy)) failed: \(describe(error))")
        }
        struct Discovery: Decodable {
            struct Aliases: Decodable {
                var tokenEndpoint: String?
                enum CodingKeys: String, CodingKey { case tokenEndpoint = "token_endpoint" }
            }
            var tokenEndpoint: String
            var issuer: String?
            var mtlsEndpointAliases: Aliases?
            enum CodingKeys: String, CodingKey {
                case tokenEndpoint = "token_endpoint", issuer, mtlsEndpointAliases = "mtls_endpoint_aliases"
            }
        }
        guard status == 200, let discovery = try? JSONDecoder().decode(Discovery.self, from: Data(body.readableBytesView)) else {
            health?.degraded("idp", details: ["reason": "discovery answered HTTP \(status)", "url": url])
            throw TokenIssuanceError(
                status: 502,
                body: OAuthErrorResponse(
                    error: "server_error",
                    errorDescription: "OIDC discovery at \(url) answered HTTP \(status) without a token_endpoint",
                    hint: "Check CAMUNDA_IDENTITY_ISSUER_BACKEND_URL: it must be the issuer (for Entra https://login.microsoftonline.com/<tenant-id>/v2.0), whose /.well-known/openid-configuration names the token endpoint; or set CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI."))
        }
        var named = [("token_endpoint", discovery.tokenEndpoint)]
        if let alias = discovery.mtlsEndpointAliases?.tokenEndpoint, !alias.isEmpty {
            named.append(("mtls_endpoint_aliases.token_endpoint", alias))
        }
        for (field, value) in named {
            if let refusal = IdPTransport.refusal(value, field: field, document: url, allowInsecure: configuration.allowInsecureHTTP, optIn: TokenIssuerSetting.allowInsecureHTTP) {
                health?.degraded("idp", details: ["reason": refusal, "url": url])
                logger.error("Token endpoint refused", metadata: [LogKey.idpReason: .string(refusal)])
                throw TokenIssuanceError(
                    status: 502,
                    body: OAuthErrorResponse(
                        error: "server_error", errorDescription: refusal,
                        hint: "The IdP's discovery document must name https endpoints; or set CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TOKEN_URI to the https token endpoint."))
            }
        }
        var metadata: Logger.Metadata = [LogKey.oidcTokenEndpoint: .string(discovery.tokenEndpoint)]
        if let alias = discovery.mtlsEndpointAliases?.tokenEndpoint, !alias.isEmpty {
            metadata[LogKey.oidcMTLSTokenEndpoint] = .string(alias)
            discoveredMTLSEndpoint = alias
        }
        logger.info("Discovered token endpoint", metadata: metadata)
        discoveredEndpoint = discovery.tokenEndpoint
        return discovery.tokenEndpoint
    }

    /// Where token requests go: with tls_client_auth the discovery document's
    /// `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5) when it names one, else the token endpoint.
    public func exchangeEndpoint() async throws(TokenIssuanceError) -> String {
        let endpoint = try await tokenEndpoint()
        if configuration.clientAuthenticationMethod == .tlsClientAuth, configuration.tokenURI == nil,
           let alias = discoveredMTLSEndpoint {
            return alias
        }
        return endpoint
    }

    /// The client TLS configuration presenting `credential` and its chain, trusting the IdP's CAs.
    private func mutualTLSConfiguration(for credential: Credential) throws(TokenIssuanceError) -> TLSConfiguration {
        let thumbprint = credential.sha256Thumbprint
        if let mutualTLS, mutualTLS.thumbprint == thumbprint { return mutualTLS.configuration }
        do {
            let tls = try ServerTLS.clientConfiguration(credential: credential, trustRoots: idpTrustRoots, includeSystemRoots: true)
            mutualTLS = (thumbprint, tls)
            return tls
        } catch {
            throw TokenIssuanceError(
                status: 500,
                body: OAuthErrorResponse(
                    error: "server_error", errorDescription: "The client certificate cannot be used for TLS: \(describe(error))",
                    hint: "Check the keystore in CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH: it must hold the certificate and its private key (RSA or EC P-256/P-384)."))
        }
    }

    /// The form fields, headers, TLS configuration and log metadata that authenticate one token request.
    private struct ClientAuthentication {
        var form: [(String, String)]
        var authorization: String?
        var tls: TLSConfiguration?
        var metadata: Logger.Metadata
    }

    private func authenticate(scope: String, endpoint: String, algorithm: JWSAlgorithm, credential chosen: Credential?) async throws(TokenIssuanceError) -> ClientAuthentication {
        let method = configuration.clientAuthenticationMethod
        var form: [(String, String)] = [("grant_type", "client_credentials")]
        var metadata: Logger.Metadata = [LogKey.scope: .string(scope), LogKey.clientAuthentication: .string(method.rawValue)]
        if case .file(let file) = configuration.assertionSource, method == .privateKeyJWT {
            // Workload identity federation: the platform's token, read fresh and checked before it is sent.
            let token: String
            do {
                token = try file.read()
                health?.up("assertion_file", details: ["path": file.path])
            } catch {
                health?.degraded("assertion_file", details: ["path": file.path, "reason": error.body.errorDescription])
                logger.error("Federated token file refused", error: error, metadata: [LogKey.assertionFile: .string(file.path)])
                throw error
            }
            metadata[LogKey.assertionFile] = .string(file.path)
            form.append(("client_id", configuration.clientID))
            form.append(("scope", scope))
            form.append(("client_assertion_type", ClientAssertionResponse.jwtBearerType))
            form.append(("client_assertion", token))
            return ClientAuthentication(form: form, metadata: metadata)
        }
        switch method {
        case .privateKeyJWT, .tlsClientAuth:
            guard let credentials else {
                throw TokenIssuanceError(
                    status: 500,
                    body: OAuthErrorResponse(
                        error: "server_error", errorDescription: "\(method.rawValue) needs the client certificate, and no keystore is loaded",
                        hint: "Set CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH."))
            }
            let credential: Credential
            if let chosen {
                credential = chosen
            } else {
                credential = await credentials.current()
            }
            metadata[LogKey.certificateX5tS256] = .string(credential.x5tS256)
            form.append(("client_id", configuration.clientID))
            form.append(("scope", scope))
            if method == .tlsClientAuth {
                return ClientAuthentication(form: form, tls: try mutualTLSConfiguration(for: credential), metadata: metadata)
            }
            var settings = configuration.assertion
            settings.algorithm = algorithm
            let assertion: SignedAssertion
            do {
                assertion = try ClientAssertionBuilder.make(credential: credential, settings: settings, audience: endpoint)
            } catch {
                throw TokenIssuanceError(
                    status: 500,
                    body: OAuthErrorResponse(
                        error: "server_error", errorDescription: "Signing the client assertion failed: \(error)",
                        hint: "Check the keystore's key type: Entra needs an RSA key (RS256 or PS256)."))
            }
            metadata[LogKey.jwtID] = .string(assertion.jti)
            form.append(("client_assertion_type", ClientAssertionResponse.jwtBearerType))
            form.append(("client_assertion", assertion.token))
            return ClientAuthentication(form: form, metadata: metadata)
        case .clientSecretPost:
            form.append(("client_id", configuration.clientID))
            form.append(("scope", scope))
            form.append(("client_secret", configuration.clientSecret ?? ""))
            return ClientAuthentication(form: form, metadata: metadata)
        case .clientSecretBasic:
            form.append(("scope", scope))
            // RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined and base64-encoded.
            let user = FormURLEncoding.escape(configuration.clientID)
            let password = FormURLEncoding.escape(configuration.clientSecret ?? "")
            let basic = Data("\(user):\(password)".utf8).base64EncodedString()
            return ClientAuthentication(form: form, authorization: "Basic \(basic)", metadata: metadata)
        }
    }

    /// Obtains an access token for `scope`, authenticating with the configured method (a fresh assertion every attempt).
    /// With certificate credentials, signs with the first of the store's signing order and, on a certificate-class
    /// refusal, falls back to the next one not tried in this exchange (the store learns what the IdP said).
    /// - Parameter pinned: sign with exactly this credential, without fallback or retries (zero-touch rotation's
    ///   check that Entra takes a new certificate).
    public func exchange(scope: String, pinned: Credential? = nil) async throws(TokenIssuanceError) -> FetchedToken {
        let endpoint = try await exchangeEndpoint()
        let method = configuration.clientAuthenticationMethod
        var algorithm = configuration.assertion.algorithm
        let usesStore = method.usesCertificate && configuration.assertionSource == .keystore && credentials != nil
        var chosen: Credential? = pinned
        if usesStore, chosen == nil { chosen = await credentials?.signingOrder().first }
        var tried: [[UInt8]] = []
        var retriedSame = false
        var attempt = 0
        while true {
            let authentication = try await authenticate(scope: scope, endpoint: endpoint, algorithm: algorithm, credential: chosen)
            var metadata = authentication.metadata
            metadata[LogKey.idpAttempt] = .stringConvertible(attempt + 1)
            let form = FormURLEncoding.encode(authentication.form)
            logger.debug("Requesting token", metadata: metadata)
            exchanges.increment()
            var request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "client-request-id", value: UUID().uuidString.lowercased())
            if let authorization = authentication.authorization {
                request.headers.add(name: "Authorization", value: authorization)
            }
            request.tlsConfiguration = authentication.tls
            request.body = .bytes(ByteBuffer(string: form))
            // A client span per attempt when traces are exported; the request is sent within it, so the IdP gets a
            // traceparent of this trace (from AsyncHTTPClient's span of the POST, see ServiceTracing.within).
            let span = ServiceTracing.clientSpan("token exchange")
            defer { span?.end() }
            span?.attributes["url.full"] = endpoint
            span?.attributes[LogKey.scope] = scope
            span?.attributes[LogKey.idpAttempt] = attempt + 1

            let status: Int
            let headers: HTTPHeaders
            let body: ByteBuffer
            let started = ContinuousClock.now
            let (http, proxy) = egress.client(for: endpoint)
            if let proxy { metadata[LogKey.proxyURL] = .string(proxy.description) }
            do {
                let response = try await ServiceTracing.within(span) { try await http.execute(request, timeout: .seconds(Int64(timeoutSeconds))) }
                status = Int(response.status.code)
                headers = response.headers
                body = try await response.body.collect(upTo: 1 << 20)
            } catch {
                span?.setStatus(SpanStatus(code: .error, message: "token endpoint unreachable"))
                Self.recordExchange(since: started, outcome: "transport_error", codes: [])
                exchangeFailures.increment()
                health?.degraded("idp", details: ["reason": describe(error), "token_endpoint": endpoint])
                if attempt < configuration.maxRetries {
                    let delay = backoff(attempt: attempt)
                    logger.warning("Token endpoint unreachable; retrying", metadata: metadata.merging(
                        [LogKey.errorMessage: .string(describe(error)), LogKey.retryDelayMilliseconds: .stringConvertible(delay.milliseconds)]) { $1 })
                    attempt += 1
                    try? await Task.sleep(for: delay)
                    continue
                }
                logger.error("Token endpoint unreachable", metadata: metadata.merging([LogKey.errorMessage: .string(describe(error))]) { $1 })
                throw TokenIssuanceError.unreachable(idp: idpHost, reason: "\(describe(error))\(Self.through(proxy))")
            }

            span?.attributes["http.response.status_code"] = status
            if status != 200 { span?.setStatus(SpanStatus(code: .error, message: "HTTP \(status)")) }
            if status == 200 {
                struct Success: Decodable {
                    var accessToken: String
                    var expiresIn: Int?
                    var refreshIn: Int?
                    var tokenType: String?
                    enum CodingKeys: String, CodingKey {
                        case accessToken = "access_token", expiresIn = "expires_in", tokenType = "token_type", refreshIn = "refresh_in"
                    }
                    init(from decoder: any Decoder) throws {
                        let c = try decoder.container(keyedBy: CodingKeys.self)
                        accessToken = try c.decode(String.self, forKey: .accessToken)
                        tokenType = try c.decodeIfPresent(String.self, forKey: .tokenType)
                        // Some IdPs send expires_in as a string.
                        if let number = try? c.decodeIfPresent(Int.self, forKey: .expiresIn) {
                            expiresIn = number
                        } else if let text = try? c.decodeIfPresent(String.self, forKey: .expiresIn) {
                            expiresIn = Int(text)
                        } else {
                            expiresIn = nil
                        }
                        if let number = try? c.decodeIfPresent(Int.self, forKey: .refreshIn) {
                            refreshIn = number
                        } else if let text = try? c.decodeIfPresent(String.self, forKey: .refreshIn) {
                            refreshIn = Int(text)
                        } else {
                            refreshIn = nil
                        }
                    }
                }
                guard let success = try? JSONDecoder().decode(Success.self, from: Data(body.readableBytesView)), !success.accessToken.isEmpty else {
                    Self.recordExchange(since: started, outcome: "invalid_response", codes: [])
                    exchangeFailures.increment()
                    throw TokenIssuanceError(
                        status: 502,
                        body: OAuthErrorResponse(
                            error: "server_error", errorDescription: "The token endpoint answered 200 without an access_token",
                            hint: "Check that \(endpoint) is an OAuth 2.0 token endpoint (not a login page behind a proxy)."))
                }
                Self.recordExchange(since: started, outcome: "success", codes: [])
                health?.up("idp", details: ["token_endpoint": endpoint])
                if let chosen { await credentials?.accepted(chosen) }
                logger.info("Token issued by IdP", metadata: metadata.merging(
                    [LogKey.expiresIn: .stringConvertible(success.expiresIn ?? 0), LogKey.refreshIn: .stringConvertible(success.refreshIn ?? 0)]) { $1 })
                return FetchedToken(
                    accessToken: success.accessToken, expiresIn: max(success.expiresIn ?? 300, 1), scope: scope,
                    refreshIn: success.refreshIn)
            }

            exchangeFailures.increment()
            let errorBody = try? JSONDecoder().decode(IdPErrorBody.self, from: Data(body.readableBytesView))
            let kind = IdPErrorClassifier.kind(status: status, body: errorBody)
            let codes = errorBody?.errorCodes ?? []
            Self.recordExchange(since: started, outcome: "idp_error", codes: codes)
            var failureMetadata = metadata
            failureMetadata[LogKey.httpStatusCode] = .stringConvertible(status)
            failureMetadata[LogKey.oauthError] = .string(errorBody?.error ?? "")
            failureMetadata[LogKey.oauthErrorCodes] = .string(codes.map(String.init).joined(separator: ","))
            failureMetadata[LogKey.idpTraceID] = .string(errorBody?.traceID ?? "")
            failureMetadata[LogKey.idpCorrelationID] = .string(errorBody?.correlationID ?? "")
            if status < 500 { health?.up("idp", details: ["token_endpoint": endpoint]) }

            if codes.contains(5002730), algorithm == .ps256, method == .privateKeyJWT {
                logger.warning("IdP refused PS256 for this key; falling back to RS256", metadata: failureMetadata)
                algorithm = .rs256
                continue
            }
            if kind == .certificate, usesStore, let credentials, let refused = chosen {
                await credentials.refused(refused, codes: codes)
                tried.append(refused.sha256Thumbprint)
                if pinned == nil {
                    // The keystore may have changed since the last poll; then the other certificate, if any.
                    await credentials.reload(reason: "IdP refused the certificate (\(codes.map(String.init).joined(separator: ",")))")
                    if let other = await credentials.signingOrder().first(where: { !tried.contains($0.sha256Thumbprint) }) {
                        fallbacks.increment()
                        logger.warning("IdP refused the certificate; retrying with the other one", metadata: failureMetadata.merging(
                            [LogKey.nextX5tS256: .string(other.x5tS256)]) { $1 })
                        chosen = other
                        continue
                    }
                    if !retriedSame {
                        // No other certificate: once more with a fresh assertion (Entra may still be replicating a key).
                        retriedSame = true
                        logger.warning("IdP refused the certificate; retrying once", metadata: failureMetadata)
                        continue
                    }
                }
            }
            if kind == .throttled || kind == .server, pinned == nil, attempt < configuration.maxRetries {
                let retryAfter = Self.retryAfter(headers)
                let delay = retryAfter.map { Duration.seconds($0) } ?? backoff(attempt: attempt)
                if delay <= configuration.maxRetryDelay {
                    logger.warning("IdP asked to retry", metadata: failureMetadata.merging(
                        [LogKey.retryDelayMilliseconds: .stringConvertible(delay.milliseconds)]) { $1 })
                    attempt += 1
                    try? await Task.sleep(for: delay)
                    continue
                }
            }
            logger.error("IdP refused the token request", metadata: failureMetadata)
            var credentialInUse = chosen
            if credentialInUse == nil { credentialInUse = await credentials?.current() }
            let context = IdPErrorClassifier.HintContext(
                clientID: configuration.clientID, tenant: tenant(of: endpoint), scope: scope,
                x5t: credentialInUse?.x5t ?? "-", x5tS256: credentialInUse?.x5tS256 ?? "-", idpHost: idpHost,
                method: method, subject: credentialInUse?.subject ?? "")
            let callerStatus: Int
            switch kind {
            case .throttled, .server: callerStatus = 503
            case .configuration where errorBody?.error == "invalid_scope" || codes.contains(70011) || codes.contains(500011): callerStatus = 400
            default: callerStatus = 502
            }
            throw TokenIssuanceError(
                status: callerStatus,
                body: OAuthErrorResponse(
                    error: errorBody?.error ?? (status >= 500 ? "server_error" : "invalid_request"),
                    errorDescription: errorBody?.errorDescription ?? "The token endpoint answered HTTP \(status)",
                    errorCodes: codes.isEmpty ? nil : codes,
                    traceID: errorBody?.traceID, correlationID: errorBody?.correlationID,
                    hint: IdPErrorClassifier.hint(status: status, body: errorBody, context: context)),
                retryAfter: Self.retryAfter(headers))
        }
    }

    /// `certauth_token_exchange_duration_seconds{outcome,aadsts}`: one observation per request to the token endpoint
    /// (each attempt, retries included). `outcome`: success, idp_error (an OAuth error answer), transport_error (no
    /// answer: connect, TLS, timeout), invalid_response (200 without a token); `aadsts`: the IdP's first error code,
    /// `none` without one. Exchanges happen on cache misses only, so building the swift-metrics `Timer` here (a
    /// registry lookup) is off the request path.
    static func recordExchange(since started: ContinuousClock.Instant, outcome: String, codes: [Int]) {
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        Metrics.Timer(
            label: "certauth_token_exchange_duration_seconds",
            dimensions: [("outcome", outcome), ("aadsts", codes.first.map(String.init) ?? "none")]
        ).recordNanoseconds(nanoseconds)
    }

    /// A fresh assertion for internal callers (`POST /v1/client-assertion`).
    /// A client assertion for the configured token endpoint or its RFC 8705 mTLS alias, and for no other audience:
    /// an assertion signed for a name the caller picks would let it use the application's identity elsewhere.
    public func assertion(audience requested: String?) async throws(TokenIssuanceError) -> SignedAssertion {
        let endpoint = try await tokenEndpoint()
        let audience: String
        if let requested, !requested.isEmpty {
            let allowed = [endpoint, discoveredMTLSEndpoint].compactMap { $0 }
            guard allowed.contains(requested) else {
                throw TokenIssuanceError(
                    status: 400,
                    body: OAuthErrorResponse(
                        error: "invalid_request",
                        errorDescription: "token-issuer signs client assertions only for its token endpoint (\(allowed.joined(separator: " or "))), not for '\(requested.prefix(200))'",
                        hint: "Leave 'audience' out (the token endpoint is the default), or ask for the token endpoint token-issuer is configured with."))
            }
            audience = requested
        } else {
            audience = endpoint
        }
        guard let credentials else {
            throw TokenIssuanceError(
                status: 409,
                body: OAuthErrorResponse(
                    error: "invalid_request", errorDescription: "No client certificate is configured, so no client assertion can be signed",
                    hint: "token-issuer runs with \(configuration.clientAuthenticationMethod.rawValue); set CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH to sign assertions."))
        }
        do {
            return try ClientAssertionBuilder.make(
                credential: await credentials.current(), settings: configuration.assertion, audience: audience)
        } catch {
            throw TokenIssuanceError(
                status: 500, body: OAuthErrorResponse(error: "server_error", errorDescription: "Signing the client assertion failed: \(error)"))
        }
    }

    /// " through proxy http://host:port (HTTPS_PROXY)" or "", for messages.
    static func through(_ proxy: EgressProxy?) -> String {
        proxy.map { " through proxy \($0.description) (\($0.variable); NO_PROXY lists the hosts reached directly)" } ?? ""
    }

    private var timeoutSeconds: Int {
        Int((configuration.connectTimeout + configuration.readTimeout).components.seconds)
    }

    /// Capped exponential backoff with full jitter: 0.25 s, 0.5 s, 1 s … up to `maxRetryDelay`.
    private func backoff(attempt: Int) -> Duration {
        let cap = Double(configuration.maxRetryDelay.components.seconds)
        let ceiling = min(cap, 0.25 * pow(2, Double(attempt)))
        return .milliseconds(Int(Double.random(in: ceiling / 2...ceiling) * 1000))
    }

    private func tenant(of endpoint: String) -> String {
        // https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
        URL(string: endpoint)?.pathComponents.dropFirst().first ?? "?"
    }

    /// `Retry-After` in seconds (delta form; an HTTP-date is converted).
    static func retryAfter(_ headers: HTTPHeaders) -> Int? {
        guard let value = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value) { return max(seconds, 0) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(Int(date.timeIntervalSinceNow.rounded(.up)), 0)
    }

    private nonisolated func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
