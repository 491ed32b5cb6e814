import AuthProtocol
import Foundation
import HTTPTypes
import HTTPServing
import Hummingbird
import NIOCore
import ServiceSupport

/// An answer of `GET /v2/authentication/me` or `GET /v1/forward-auth` kept for the lean path.
struct AuthnLeanAnswer: Sendable {
    let headers: HTTPFields
    let body: ByteBuffer
    /// The certificate-verdict generation the answer was made under (mTLS and certificate-bound tokens): a CRL reload
    /// since then means the answer is not repeated.
    let verdictGeneration: UInt64?
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
        guard let kept = answers.lookup(key) else { return nil }
        if let generation = kept.verdictGeneration, generation != verdicts?.generation { return nil }
        return ImmediateAnswer(headers: kept.headers, body: kept.body, metrics: route == .me ? meMetrics : forwardAuthMetrics)
    }

    static func key(
        route: Route, authorization: (some Collection<UInt8>)?, peerSHA256: [UInt8]?, requireRole: (some Collection<UInt8>)?
    ) -> AnswerKey {
        var key = AnswerKey(capacity: 64 + (authorization?.count ?? 0))
        key.append(CollectionOfOne(route.rawValue))
        if let authorization { key.append(authorization) } else { key.append(absent: 0) }
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
        peerSHA256: [UInt8]?, verdictGeneration: UInt64?, rolesTTL: Duration?, in answers: AnswerCache<AuthnLeanAnswer>
    ) {
        guard response.status == .ok, authentication.principal.authenticationMethod != .anonymous,
              let key = key(route: route, request: request, peerSHA256: peerSHA256)
        else { return }
        let now = ContinuousClock.now
        let wallNow = Date()
        var lifetime = maximumAge
        if let rolesTTL { lifetime = min(lifetime, rolesTTL) }
        for limit in [authentication.expiresAt, authentication.reusableUntil].compactMap({ $0 }) {
            lifetime = min(lifetime, .milliseconds(Int64(limit.timeIntervalSince(wallNow) * 1000)))
        }
        guard lifetime > .zero else { return }
        answers.store(
            key, AuthnLeanAnswer(headers: response.headers, body: body, verdictGeneration: verdictGeneration),
            until: now + lifetime, now: now)
    }
}
