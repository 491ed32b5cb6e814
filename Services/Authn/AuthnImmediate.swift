import AuthProtocol
import Crypto
import Foundation
import HTTPTypes
import HTTPServing
import Hummingbird
import NIOCore
import ServiceSupport
import Synchronization
import WireFormat

/// An answer of `GET /v2/authentication/me` or `GET /v1/forward-auth` kept for the lean path.
struct AuthnLeanAnswer: Sendable {
    let headers: HTTPFields
    let body: ByteBuffer
    /// How the caller authenticated (the decision counter of a repeated answer).
    let method: AuthenticationMethod
    /// The certificate-verdict generation the answer was made under (mTLS and certificate-bound tokens): a CRL reload
    /// since then means the answer is not repeated.
    let verdictGeneration: UInt64?
    /// The JWKS key-removal generation it was made under: a key that left the IdP's JWKS takes with it every answer
    /// made since (the verified-token cache drops that key's tokens the same way).
    let keyRemovalGeneration: UInt64
}

/// A counter of invalidating events (the IdP's JWKS dropped a key), read with one atomic load per lean request.
final class LeanInvalidation: Sendable {
    private let counter = Atomic<UInt64>(0)

    var generation: UInt64 { counter.load(ordering: .acquiring) }

    func bump() {
        counter.add(1, ordering: .releasing)
    }
}

/// The lean path of authn (issue 16): a caller that presents exactly the credential that `GET /v2/authentication/me`
/// or `GET /v1/forward-auth` accepted a moment ago gets the same answer at once, on the event loop, with no task: the
/// verdict and the encoded answer are kept together.
///
/// The key holds everything those routes decide on: the route, the `Authorization` field's bytes, the connection's
/// client certificate (SHA-256; certificate-bound tokens and mTLS depend on it) and `X-Auth-Require-Role`. Requests the
/// key could not describe go to the router: a session cookie, a forwarded client certificate (`X-SSL-Client-Cert`,
/// RFC 9440 `Client-Cert`/`Client-Cert-Chain`, Envoy's `x-forwarded-client-cert`), a repeated `Authorization` or
/// `X-Auth-Require-Role`, and callers without credentials. Only 200 answers are kept, until the earliest of the
/// credential's expiry, the revocation data's freshness, the roles answer's cache time
/// (`CAMUNDA_AUTHN_RESOLVE_CACHE_TTL`, when roles are resolved) and five minutes; all of them go when the CRLs change.
struct AuthnImmediate: ImmediateResponder {
    enum Route: UInt8 {
        case me = 1
        case forwardAuth = 2
    }

    let answers: AnswerCache<AuthnLeanAnswer>
    let verdicts: CertificateVerdictCache?
    let keyRemovals: LeanInvalidation
    /// A repeated answer is a decision like the first (`certauth_authn_decisions_total{result="accepted"}`).
    let decisions: AuthnDecisions?
    /// For bearer tokens not seen before whose signing key is loaded (``Authenticator/authenticateWithoutWaiting(token:peer:)``).
    let authenticator: Authenticator?
    let meMetrics = RouteMetrics(route: ProtocolPath.me, method: .get)
    let forwardAuthMetrics = RouteMetrics(route: ProtocolPath.forwardAuth, method: .get)

    /// Fields whose presence sends a request to the router (lower case, as HTTP/2 carries them).
    static let routerOnlyFields = ["cookie", "x-ssl-client-cert", "client-cert", "client-cert-chain", "x-forwarded-client-cert"]
    /// The longest a kept answer is repeated (the certificate verdict cache's own limit).
    static let maximumAge: Duration = .seconds(300)

    func immediateAnswer(to request: ImmediateRequest) -> ImmediateAnswer? {
        guard request.method == .get else { return nil }
        let route: Route
        if request.path == ProtocolPath.me {
            route = .me
        } else if request.path == ProtocolPath.forwardAuth {
            route = .forwardAuth
        } else {
            return nil
        }
        let headers = request.headers
        for name in Self.routerOnlyFields where headers.contains(name) { return nil }
        guard headers.count(of: "authorization") <= 1, headers.count(of: "x-auth-require-role") <= 1 else { return nil }
        let authorization = headers.first("authorization")
        guard authorization != nil || request.peer != nil else { return nil }
        let key = Self.key(
            route: route, authorization: authorization, peerSHA256: request.peer?.sha256,
            requireRole: route == .forwardAuth ? headers.first("x-auth-require-role") : nil)
        guard let kept = answers.lookup(key) else {
            return fresh(key, route: route, headers: headers, authorization: authorization, peer: request.peer)
        }
        if let generation = kept.verdictGeneration, generation != verdicts?.generation { return nil }
        guard kept.keyRemovalGeneration == keyRemovals.generation else { return nil }
        decisions?.accepted(kept.method)
        return ImmediateAnswer(headers: kept.headers, body: kept.body, metrics: route == .me ? meMetrics : forwardAuthMetrics)
    }

    /// The answer to a bearer token the lean path has not answered before, when it can be made without waiting: the
    /// token's key is loaded and no roles service is asked. Made by the same functions as the router's (the
    /// verdict, the principal's JSON, the `X-Auth-*` fields); anything else, refusals included, goes to the router.
    private func fresh(_ key: AnswerKey, route: Route, headers: HTTP2RequestHeaders, authorization: ArraySlice<UInt8>?, peer: PeerCertificate?) -> ImmediateAnswer? {
        guard let authenticator, let authorization else { return nil }
        // Read before the verdict, as the router does: a key removed meanwhile makes the kept answer stale at once.
        let verdictGeneration = verdicts?.generation
        let keyRemovalGeneration = keyRemovals.generation
        guard let token = BearerToken.token(in: String(decoding: authorization, as: UTF8.self)),
              let authentication = authenticator.authenticateWithoutWaiting(token: token, peer: peer)
        else { return nil }
        let principal = authentication.principal
        let answer: ImmediateAnswer
        switch route {
        case .me:
            answer = ImmediateAnswer(headers: Self.meHeaders, body: ByteBuffer(bytes: principal.directJSON), metrics: meMetrics)
        case .forwardAuth:
            if let required = headers.string("x-auth-require-role") {
                // A 403 is the router's to give (with its reason and log line).
                guard AuthnRoutes.holdsAny(of: required, principal) else { return nil }
            }
            guard var fields = try? authenticator.callerHeaders(authentication) else { return nil }
            fields[.cacheControl] = "no-store"
            answer = ImmediateAnswer(headers: fields, body: ByteBuffer(), metrics: forwardAuthMetrics)
        }
        decisions?.accepted(principal.authenticationMethod)
        // From a token's second use on (the verified-token cache knew it) the answer is kept, as the router keeps it.
        Self.store(
            key, headers: answer.headers, body: answer.body, authentication: authentication, verdictGeneration: verdictGeneration,
            keyRemovalGeneration: keyRemovalGeneration, rolesTTL: nil, in: answers)
        return answer
    }

    /// The header fields of a `/v2/authentication/me` answer (the router's, ``AuthnRoutes/me(_:context:)``).
    static let meHeaders: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]

    static func key(
        route: Route, authorization: (some Collection<UInt8>)?, peerSHA256: [UInt8]?, requireRole: (some Collection<UInt8>)?
    ) -> AnswerKey {
        var key = AnswerKey(capacity: 96)
        key.append(CollectionOfOne(route.rawValue))
        // The token by its SHA-256: a bearer token is near a kilobyte, and 10,000 kept answers keyed by whole tokens
        // held 15 MB more in the bench's unique-token run.
        if let authorization { key.append(Array(SHA256.hash(data: Array(authorization)))) } else { key.append(absent: 0) }
        if let peerSHA256 { key.append(peerSHA256) } else { key.append(absent: 1) }
        if let requireRole { key.append(requireRole) } else { key.append(absent: 2) }
        return key
    }

    /// The key of a request the router answered, or nil when the lean path would not look such a request up.
    static func key(route: Route, request: Request, peerSHA256: [UInt8]?) -> AnswerKey? {
        let headers = request.headers
        for name in routerOnlyFields {
            guard let fieldName = HTTPField.Name(name), headers[values: fieldName].isEmpty else { return nil }
        }
        let authorization = headers[values: .authorization]
        let requireRole = headers[values: .authRequireRole]
        guard authorization.count <= 1, requireRole.count <= 1 else { return nil }
        guard !authorization.isEmpty || peerSHA256 != nil else { return nil }
        return key(
            route: route, authorization: authorization.first.map { Array($0.utf8) }, peerSHA256: peerSHA256,
            requireRole: route == .forwardAuth ? requireRole.first.map { Array($0.utf8) } : nil)
    }

    /// Keeps the 200 answer `response` made for `authentication` (read whole into `body`), if the lean path may
    /// repeat it: see the type's documentation.
    static func keep(
        _ response: Response, body: ByteBuffer, authentication: Authentication, route: Route, request: Request,
        peerSHA256: [UInt8]?, verdictGeneration: UInt64?, keyRemovalGeneration: UInt64, rolesTTL: Duration?,
        in answers: AnswerCache<AuthnLeanAnswer>
    ) {
        guard response.status == .ok, let key = key(route: route, request: request, peerSHA256: peerSHA256) else { return }
        store(
            key, headers: response.headers, body: body, authentication: authentication, verdictGeneration: verdictGeneration,
            keyRemovalGeneration: keyRemovalGeneration, rolesTTL: rolesTTL, in: answers)
    }

    /// Keeps an answer under `key` for as long as its verdict holds (see the type's documentation); an anonymous
    /// caller's, or one whose verdict may not be repeated (``Authentication/reusableUntil`` passed), is not kept.
    static func store(
        _ key: AnswerKey, headers: HTTPFields, body: ByteBuffer, authentication: Authentication, verdictGeneration: UInt64?,
        keyRemovalGeneration: UInt64, rolesTTL: Duration?, in answers: AnswerCache<AuthnLeanAnswer>
    ) {
        guard authentication.principal.authenticationMethod != .anonymous else { return }
        let now = ContinuousClock.now
        let wallNow = Date()
        var lifetime = maximumAge
        if let rolesTTL { lifetime = min(lifetime, rolesTTL) }
        for limit in [authentication.expiresAt, authentication.reusableUntil].compactMap({ $0 }) {
            lifetime = min(lifetime, .milliseconds(Int64(limit.timeIntervalSince(wallNow) * 1000)))
        }
        guard lifetime > .zero else { return }
        answers.store(
            key, AuthnLeanAnswer(
                headers: headers, body: body, method: authentication.principal.authenticationMethod,
                verdictGeneration: verdictGeneration, keyRemovalGeneration: keyRemovalGeneration),
            until: now + lifetime, now: now)
    }
}
