import AuthProtocol
import ClientAssertion
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Prometheus
import NIOCore
import ServiceClient
import ServiceSupport
import WireFormat

/// The internal protocol routes of token-issuer: `POST /v1/token`, `POST /v1/client-assertion`, `GET /v1/credentials`.
struct TokenIssuerRoutes: Sendable {
    let configuration: TokenIssuerConfiguration
    let cache: TokenCache
    let endpoint: TokenEndpointClient
    let credentials: CredentialStore?
    /// Cached-token answers for the lean path (``TokenIssuerImmediate``): what `POST /v1/token` answered, by caller
    /// certificate and request body, until the token's refresh time (kept with the token cache, emptied with it).
    var answers: AnswerCache<LeanToken> { cache.leanAnswers }
    /// `certauth_token_issuer_handouts_total{kind,caller,scope}`.
    let handouts: PrecreatedCounters<HandOut>

    func register(on router: Router<ServiceRequestContext>) {
        router.post(RouterPath(ProtocolPath.token)) { request, context in
            try await token(request: request, context: context)
        }
        router.post(RouterPath(ProtocolPath.clientAssertion)) { request, context in
            try await clientAssertion(request: request, context: context)
        }
        router.get(RouterPath(ProtocolPath.credentials)) { _, context in
            _ = try await authorize(context, allowed: configuration.allowedCallers, setting: TokenIssuerSetting.allowedCallers, what: "read the credentials")
            return JSONResponse.make(.ok, CredentialsResponse(credentials: await credentials?.describe() ?? []))
        }
    }

    /// The calling service, when its certificate (verified against the internal CA by the TLS handshake) carries the
    /// service identity `spiffe://<trust domain>/<service>` of a service in `allowed`; else the refusal. An end-user
    /// certificate, whatever its names, is never a service.
    private func authorize(
        _ context: ServiceRequestContext, allowed: [String], setting: String, what: String
    ) async throws(TokenIssuanceError) -> String {
        let trustDomain = configuration.listener.serviceTrustDomain
        guard let caller = await context.callerIdentity(trustDomain: trustDomain) else {
            let presented = await context.peerCertificate() != nil
            context.logger.warning("Caller refused", metadata: [LogKey.callerRefusal: .string(presented ? "no service identity" : "no client certificate")])
            throw TokenIssuanceError(presented ? .forbidden : .unauthorized, OAuthErrorResponse(
                error: presented ? "access_denied" : "invalid_client",
                errorDescription: presented
                    ? "The client certificate carries no service identity spiffe://\(trustDomain)/<service>; token-issuer serves services of the suite, not end users"
                    : "A client certificate from the internal CA is required",
                hint: "Call token-issuer over mTLS with your service's certificate (certauth pki init issues service certificates with their SPIFFE ID)."))
        }
        guard allowed.contains(caller) else {
            context.logger.warning("Caller not allowed", metadata: [LogKey.caller: .string(caller), LogKey.configVariable: .string(setting)])
            throw TokenIssuanceError(.forbidden, OAuthErrorResponse(
                error: "access_denied",
                errorDescription: "Service '\(caller)' may not \(what) here",
                hint: allowed.isEmpty
                    ? "\(setting) is empty, so nobody may; add '\(caller)' to it if it should."
                    : "Add '\(caller)' to \(setting) (now: \(allowed.joined(separator: ","))) if it should."))
        }
        return caller
    }

    /// One label set of the hand-out counter.
    struct HandOut: Hashable, Sendable {
        var kind: String
        var caller: String
        var scope: String
    }

    /// The hand-out counters: made at start for every allowed caller with the default scope and its allowed scopes,
    /// so the common hand-out counts without a lock; any other scope (or an assertion's audience) on first use.
    static func handOutCounters(configuration: TokenIssuerConfiguration, metrics: PrometheusCollectorRegistry) -> PrecreatedCounters<HandOut> {
        let keys = configuration.allowedCallers.flatMap { caller in
            ([configuration.defaultScope] + (configuration.callerScopes[caller] ?? []).sorted()).map {
                HandOut(kind: "token", caller: caller, scope: $0)
            }
        }
        return PrecreatedCounters(registry: metrics, name: "certauth_token_issuer_handouts_total", keys: keys) { key in
            [("kind", key.kind), ("caller", key.caller), ("scope", key.scope)]
        }
    }

    /// Counts every token and assertion handed out, per caller and scope (or audience): who obtained what.
    private func countHandOut(kind: String, caller: String, scope: String) {
        handouts.increment(HandOut(kind: kind, caller: caller, scope: scope))
    }

    private func token(request: Request, context: ServiceRequestContext) async throws -> Response {
        let caller = try await authorize(context, allowed: configuration.allowedCallers, setting: TokenIssuerSetting.allowedCallers, what: "obtain tokens")
        let raw = try await collect(request, context: context)
        let body = try decode(TokenRequest.self, raw)
        let scope = body.scope.map(Self.trimmed)?.nonEmpty ?? configuration.defaultScope
        // The configured scope was checked at start-up (TOKEN_ISSUER_SCOPES or equivalent): only a caller's own is checked here.
        if configuration.identityType == .microsoft, scope != configuration.defaultScope {
            do {
                try TokenIssuerConfiguration.checkMicrosoftScope(scope, variable: "scope")
            } catch {
                throw TokenIssuanceError(.badRequest, OAuthErrorResponse(
                    error: "invalid_scope", errorDescription: "Invalid scope: missing .default suffix",
                    hint: "Ask for exactly one scope of the form '<resource client id>/.default'."))
            }
        }
        if let scopes = configuration.callerScopes[caller], !scopes.contains(scope) {
            context.logger.warning("Scope not allowed for caller", metadata: [LogKey.caller: .string(caller), LogKey.scope: .string(String(scope.prefix(200)))])
            throw TokenIssuanceError(.forbidden, OAuthErrorResponse(
                error: "invalid_scope", errorDescription: "Service '\(caller)' may not obtain tokens for this scope",
                hint: "\(TokenIssuerSetting.callerScopes) allows '\(caller)' only \(scopes.sorted().joined(separator: ", ")); add '\(caller)=\(scope.prefix(200))' if it should."))
        }
        let cached = try await cache.token(scope: scope)
        let handOut = HandOut(kind: "token", caller: caller, scope: scope)
        handouts.increment(handOut)
        if let peer = await context.verifiedPeer() {
            // The same caller sending the same body gets the same token until its refresh time: the lean path
            // answers that from here without a task (the checks above depend only on the two).
            answers.store(
                TokenIssuerImmediate.key(peer: peer, body: raw),
                LeanToken(token: cached, scope: scope, handOut: handOut), until: cached.refreshAt)
        }
        return JSONResponse.make(.ok, LeanToken.response(cached, scope: scope))
    }

    private func clientAssertion(request: Request, context: ServiceRequestContext) async throws -> Response {
        let caller = try await authorize(
            context, allowed: configuration.assertionCallers, setting: TokenIssuerSetting.assertionCallers,
            what: "obtain client assertions signed with the application's key")
        let body = try decode(ClientAssertionRequest.self, try await collect(request, context: context))
        let assertion = try await endpoint.assertion(audience: body.audience)
        countHandOut(kind: "client_assertion", caller: caller, scope: assertion.audience)
        context.logger.info("Client assertion handed out", metadata: [
            LogKey.jwtID: .string(assertion.jti), LogKey.caller: .string(caller), LogKey.jwtAudience: .string(assertion.audience),
        ])
        return JSONResponse.make(.ok, ClientAssertionResponse(
            clientAssertion: assertion.token, expiresAt: RFC3339.string(assertion.expiresAt)))
    }

    private func collect(_ request: Request, context: ServiceRequestContext) async throws(TokenIssuanceError) -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw TokenIssuanceError(.badRequest, OAuthErrorResponse(
                error: "invalid_request", errorDescription: "The request body is larger than \(context.maxUploadSize) bytes"))
        }
    }

    /// An empty body decodes as `{}`; anything else must be the JSON object of the protocol.
    private func decode<T: Decodable & Sendable>(_ type: T.Type, _ buffer: ByteBuffer) throws(TokenIssuanceError) -> T {
        let data = buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw TokenIssuanceError(.badRequest, OAuthErrorResponse(
                error: "invalid_request",
                errorDescription: "The request body is not the expected JSON object (\(Self.describe(decoding: error)))",
                hint: "Send application/json such as {\"scope\": \"<resource>/.default\"}, or an empty body for the default."))
        }
    }

    /// `scope` without leading and trailing white space (Foundation's `.whitespaces`); a scope with visible ASCII at
    /// both ends, the usual case, is returned as it is without going through `NSString` (perf: the trim and the scope
    /// check were 5 % of a cached `POST /v1/token`).
    static func trimmed(_ scope: String) -> String {
        if let first = scope.utf8.first, let last = scope.utf8.last, (0x21..<0x7F).contains(first), (0x21..<0x7F).contains(last) {
            return scope
        }
        return scope.trimmingCharacters(in: .whitespaces)
    }

    static func describe(decoding error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return context.debugDescription
        default:
            return "malformed JSON"
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

/// A token `POST /v1/token` handed out, kept for the lean path with the hand-out counter's labels.
struct LeanToken: Sendable {
    let token: CachedToken
    let scope: String
    let handOut: TokenIssuerRoutes.HandOut
    /// The answer's JSON around the `expires_in` value, encoded once: the token's JSON escaping was 3 % of a cached
    /// hand-out (perf, `make bench`); only the remaining seconds change between answers.
    private let encoded: (prefix: [UInt8], suffix: [UInt8])?

    init(token: CachedToken, scope: String, handOut: TokenIssuerRoutes.HandOut) {
        self.token = token
        self.scope = scope
        self.handOut = handOut
        var zero = Self.response(token, scope: scope)
        zero.expiresIn = 0
        let json = zero.directJSON
        // `,"expires_in":0,` can only be the member itself: inside a JSON string every `"` is escaped.
        let marker = Array(#","expires_in":0,"#.utf8)
        if let start = json.indices.first(where: { json[$0...].starts(with: marker) }) {
            encoded = (Array(json[..<(start + marker.count - 2)]), Array(json[(start + marker.count - 1)...]))
        } else {
            encoded = nil
        }
    }

    /// The answer's body for a hand-out at `now`: the same bytes as `response(token, scope:, now:).directJSON`.
    func body(now: Date = Date()) -> ByteBuffer {
        let response = Self.response(token, scope: scope, now: now)
        guard let encoded else { return ByteBuffer(bytes: response.directJSON) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(encoded.prefix.count + encoded.suffix.count + 8)
        buffer.writeBytes(encoded.prefix)
        buffer.writeString(String(response.expiresIn))
        buffer.writeBytes(encoded.suffix)
        return buffer
    }

    static func response(_ cached: CachedToken, scope: String, now: Date = Date()) -> TokenResponse {
        TokenResponse(
            accessToken: cached.token, expiresIn: max(Int(cached.expiresAtDate.timeIntervalSince(now)), 0),
            expiresAt: RFC3339.string(cached.expiresAtDate), scope: scope)
    }
}

/// The lean path of `POST /v1/token` (issue 16): a caller certificate and body that the route answered with a cached
/// token before get the same token at once on the event loop, until the token's refresh time (after it, the route
/// runs: it refreshes ahead of expiry). Everything the route checked (the caller's service identity, the allow-lists,
/// the scope) depends only on the certificate and the body, which form the key; the TLS handshake verified the
/// certificate for this connection.
struct TokenIssuerImmediate: ImmediateResponder {
    let answers: AnswerCache<LeanToken>
    let handouts: PrecreatedCounters<TokenIssuerRoutes.HandOut>
    let metrics = RouteMetrics(route: ProtocolPath.token, method: .post)
    let hits = Metrics.Counter(label: "certauth_token_cache_hits_total")

    static func key(peer: PeerCertificate, body: ByteBuffer) -> AnswerKey {
        var key = AnswerKey(capacity: 48 + body.readableBytes)
        key.append(peer.sha256)
        key.append(body.readableBytesView)
        return key
    }

    func immediateAnswer(to request: ImmediateRequest) -> ImmediateAnswer? {
        guard request.method == .post, request.path == ProtocolPath.token, let peer = request.peer,
              let lean = answers.lookup(Self.key(peer: peer, body: request.body))
        else { return nil }
        hits.increment()
        handouts.increment(lean.handOut)
        return ImmediateAnswer(
            headers: [.contentType: "application/json", .cacheControl: "no-store"], body: lean.body(), metrics: metrics)
    }
}
