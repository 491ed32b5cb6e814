import AuthProtocol
import CertificateValidation
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceClient
import ServiceSupport
import WireFormat
import X509

/// authn's HTTP surface (README).
struct AuthnRoutes: Sendable {
    let configuration: AuthnConfiguration
    let authenticator: Authenticator
    let sessions: SessionManager
    /// The unprotected-API flow (`CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI`): one shared sign-in for every caller
    /// without credentials, with the anonymous roles only.
    let anonymous: AnonymousAccess?
    let roles: InternalClient?
    /// Validates the certificates of internal callers (`POST /v1/authenticate`) against the listener's trust store.
    let internalCallers: ClientCertificateValidator?
    let logger: Logger
    /// `certauth_authn_decisions_total`: one increment per answer about a caller.
    var decisions: AuthnDecisions
    /// Answers of `/v2/authentication/me` and `/v1/forward-auth` for the lean path (``AuthnImmediate``).
    /// 4,096 answers, as many as the certificate verdict cache holds: the bench's 15,000 distinct tokens held authn at
    /// 69 MB with 10,000 (the RSS target is 64 MB).
    let answers = AnswerCache<AuthnLeanAnswer>(capacity: 4096)
    /// Bumped when the IdP's JWKS drops a key (wired by the application).
    let keyRemovals = LeanInvalidation()

    var immediate: AuthnImmediate {
        AuthnImmediate(
            answers: answers, verdicts: authenticator.certificates?.cache, keyRemovals: keyRemovals, decisions: decisions,
            authenticator: authenticator)
    }

    func register(on router: Router<ServiceRequestContext>) {
        router.get(RouterPath(ProtocolPath.me)) { request, context in
            await me(request, context: context)
        }
        router.get(RouterPath(ProtocolPath.forwardAuth)) { request, context in
            await forwardAuth(request, context: context)
        }
        router.post(RouterPath(ProtocolPath.authenticate)) { request, context in
            try await authenticateEndpoint(request, context: context)
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("/v2/**", method: method) { request, context in
                try await forwardToRoles(request, context: context)
            }
        }
    }

    // MARK: - Finding the caller

    /// Bearer token, then a certificate forwarded by a trusted proxy, then a session cookie, then the connection's
    /// client certificate, then (when configured) the service-account flow.
    func caller(_ request: Request, context: ServiceRequestContext) async throws(AuthenticationFailure) -> Authentication {
        let forwardedForms = ForwardedCertificates.forms(in: request.headers)
        var fromTrustedProxy = false
        if !forwardedForms.isEmpty {
            // Refused from any other peer, whatever else the request carries (ForwardedCertificates).
            let peer = await context.peerCertificate()
            guard let peer, authenticator.certificates?.isTrustedProxy(peer) ?? false else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "\(ForwardedCertificates.names(forwardedForms)) \(forwardedForms.count == 1 ? "is" : "are") honoured only from a trusted proxy that presents its own certificate listed in CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES; this connection presented \(peer == nil ? "no certificate" : "a certificate not on that list"), so the request is refused (remove the header, or list the proxy's certificate)", code: .forwardedCertificateNotFromProxy)
            }
            fromTrustedProxy = true
        }
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                let scheme = parts.first.map(String.init) ?? ""
                throw AuthenticationFailure(
                    .unauthorized,
                    "the Authorization header must be 'Bearer <access token>'; the scheme '\(scheme.prefix(20))' is not accepted",
                    code: .authorizationSchemeUnsupported)
            }
            let token = BearerToken.trimmed(parts[1])  // BearerToken.token(in:) on the lean path: the same split
            let presentation = TokenPresentation.caller(certificate: { () async throws(AuthenticationFailure) -> Certificate? in
                try await presentedCertificate(request, context: context)
            })
            return try await authenticator.authenticate(
                token: token, presentation: presentation, trace: context.trace)
        }
        let verifiedPeer = await context.verifiedPeer()
        let peer = verifiedPeer?.certificate
        let certificates = authenticator.certificates
        let peerIsProxy = peer.map { certificates?.isTrustedProxy($0) ?? false } ?? false
        if fromTrustedProxy, let forwarded = try ForwardedCertificates.read(request.headers) {
            // The forwarded chain helps build this request's path only.
            return try await authenticator.authenticate(
                leaf: forwarded.leaf, presented: .list(forwarded.intermediates), trace: context.trace)
        }
        if let cookie = Self.cookie(named: sessions.cookieName, in: request.headers) {
            do {
                if let session = try await sessions.lookup(cookie: cookie) {
                    return session
                }
            } catch {
                throw AuthenticationFailure(.unavailable, "the session store is unavailable: \(error)", code: .sessionStoreUnavailable)
            }
        }
        if let peer, !peerIsProxy, certificates != nil {
            return try await authenticator.authenticate(
                leaf: peer, presented: .connection(context.channel), leafSHA256: verifiedPeer?.sha256, trace: context.trace)
        }
        if let anonymous {
            return try await anonymous.authentication(trace: context.trace)
        }
        var ways = ["'Authorization: Bearer <access token>'"]
        if certificates != nil { ways.append("a client certificate") }
        throw AuthenticationFailure(.missing, "no credentials were presented; send \(ways.joined(separator: " or "))", code: .credentialsMissing)
    }

    /// The client certificate of a request for certificate-bound tokens: a trusted proxy's forwarded certificate (any
    /// of ``ForwardedCertificates``' headers), else the connection's own (never the proxy's).
    func presentedCertificate(_ request: Request, context: ServiceRequestContext) async throws(AuthenticationFailure) -> Certificate? {
        guard let peer = await context.peerCertificate() else { return nil }
        guard authenticator.certificates?.isTrustedProxy(peer) ?? false else { return peer }
        return try ForwardedCertificates.read(request.headers)?.leaf
    }

    /// The value of the cookie `name` (Hummingbird's `Cookies`, the first of that name), without the white space a
    /// client may leave after it; nil when absent or empty.
    static func cookie(named name: String, in headers: HTTPFields) -> String? {
        guard let value = Cookies(from: headers[values: .cookie])[name]?.value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    // MARK: - Endpoints

    func me(_ request: Request, context: ServiceRequestContext) async -> Response {
        let generation = authenticator.certificates?.cache.generation
        let keyRemovalGeneration = keyRemovals.generation
        do {
            let authentication = try await caller(request, context: context)
            decisions.accepted(authentication.principal.authenticationMethod)
            let body = ByteBuffer(bytes: authentication.principal.directJSON)
            let response = Response(status: .ok, headers: AuthnImmediate.meHeaders, body: .init(byteBuffer: body))
            await keep(response, body: body, authentication: authentication, route: .me, request: request, context: context,
                       verdictGeneration: generation,
                       keyRemovalGeneration: keyRemovalGeneration)
            return response
        } catch {
            return failureResponse(error, context: context, problem: false)
        }
    }

    /// Keeps a 200 answer for the lean path (``AuthnImmediate``).
    private func keep(
        _ response: Response, body: ByteBuffer, authentication: Authentication, route: AuthnImmediate.Route, request: Request,
        context: ServiceRequestContext, verdictGeneration: UInt64?, keyRemovalGeneration: UInt64
    ) async {
        AuthnImmediate.keep(
            response, body: body, authentication: authentication, route: route, request: request,
            peerSHA256: await context.verifiedPeer()?.sha256, verdictGeneration: verdictGeneration,
            keyRemovalGeneration: keyRemovalGeneration,
            rolesTTL: authenticator.roles == nil ? nil : configuration.resolveCacheTTL, in: answers)
    }

    /// nginx `auth_request` / Traefik ForwardAuth. `X-Auth-Require-Role` (comma list, any of) lets the proxy ask for
    /// a role per location: 403 when the caller holds none of them (role names compare exactly, as everywhere).
    /// The caller goes back in the structured fields of docs/security-model.md: `X-Auth-Principal` (Item), `X-Auth-Roles`
    /// (List of Strings), `X-Auth-Admin: ?1` for admins.
    func forwardAuth(_ request: Request, context: ServiceRequestContext) async -> Response {
        let generation = authenticator.certificates?.cache.generation
        let keyRemovalGeneration = keyRemovals.generation
        do throws(AuthenticationFailure) {
            let authentication = try await caller(request, context: context)
            let principal = authentication.principal
            if let required = request.headers[.authRequireRole] {
                guard Self.holdsAny(of: required, principal) else {
                    throw AuthenticationFailure(.forbidden, "'\(principal.principal)' holds none of the roles this location requires (\(required)); role names compare exactly, case included",
                                                code: .roleMissing, method: principal.authenticationMethod)
                }
            }
            var headers = try authenticator.callerHeaders(authentication)
            headers[.cacheControl] = "no-store"
            decisions.accepted(principal.authenticationMethod)
            let response = Response(status: .ok, headers: headers)
            await keep(response, body: ByteBuffer(), authentication: authentication, route: .forwardAuth, request: request,
                       context: context, verdictGeneration: generation,
                       keyRemovalGeneration: keyRemovalGeneration)
            return response
        } catch {
            return failureResponse(error, context: context, problem: false)
        }
    }

    /// Whether `principal` holds one of the roles of an `X-Auth-Require-Role` value (a comma list, names exact).
    static func holdsAny(of required: String, _ principal: PrincipalResponse) -> Bool {
        let wanted = Set(required.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return principal.roles.contains(where: { wanted.contains($0) })
    }

    /// Internal: another service asks authn to check a token or a certificate chain it received.
    func authenticateEndpoint(_ request: Request, context: ServiceRequestContext) async throws(AuthnRequestError) -> Response {
        if let refusal = await checkInternalCaller(context) { return refusal }
        let body: AuthenticateRequest
        do {
            body = try await request.decode(as: AuthenticateRequest.self, context: context)
        } catch {
            throw .invalidRequest(
                "the body must be JSON {\"token\": \"...\"}, {\"token\": \"...\", \"certificate_chain_pem\": \"...\"} or {\"certificate_chain_pem\": \"...\"}",
                traceID: context.trace.traceID)
        }
        enum Presented { case token(String, pem: String?), chain(String) }
        let presented: Presented
        if let token = body.token {
            presented = .token(token, pem: body.certificateChainPEM)
        } else if let pem = body.certificateChainPEM {
            presented = .chain(pem)
        } else {
            throw .invalidRequest(
                "send \"token\" (optionally with \"certificate_chain_pem\" for certificate-bound tokens) or \"certificate_chain_pem\" alone",
                traceID: context.trace.traceID)
        }
        let authentication: Authentication
        do throws(AuthenticationFailure) {
            switch presented {
            case .token(let token, let pem):
                // certificate_chain_pem next to a token is the certificate the caller's client presented: a
                // certificate-bound token must match its leaf (RFC 8705 §3).
                let presentation = TokenPresentation.caller(certificate: { () async throws(AuthenticationFailure) -> Certificate? in
                    guard let pem else { return nil }
                    do throws(CertificateValidationError) {
                        return try CertificatePEM.parse(pem).first
                    } catch {
                        throw AuthenticationFailure(.unauthorized, "certificate_chain_pem is unreadable: \(error.message)", code: .certificateMalformed)
                    }
                })
                authentication = try await authenticator.authenticate(token: token, presentation: presentation, trace: context.trace)
            case .chain(let pem):
                let chain: [Certificate]
                do {
                    chain = try CertificatePEM.parse(pem)
                } catch {
                    throw AuthenticationFailure(.unauthorized, "certificate_chain_pem is unreadable: \(error.message)", code: .certificateMalformed)
                }
                guard let leaf = chain.first else {
                    throw AuthenticationFailure(.unauthorized, "certificate_chain_pem holds no certificate", code: .certificateMissing)
                }
                authentication = try await authenticator.authenticate(leaf: leaf, presented: .list(Array(chain.dropFirst())), trace: context.trace)
            }
        } catch {
            return failureResponse(error, context: context, problem: false)
        }
        decisions.accepted(authentication.principal.authenticationMethod)
        return JSONResponse.make(.ok, authentication.principal)
    }

    /// `/v2/**`: the target is checked (400 for anything that could be read two ways), the route decides what it
    /// needs (read: a reader or admin role; write and the audit log: an admin role; no such route: 404), and exactly
    /// the checked target is forwarded to roles with the caller in the structured `X-Auth-*` fields.
    func forwardToRoles(_ request: Request, context: ServiceRequestContext) async throws(AuthnRequestError) -> Response {
        let path: String
        let query: String?
        switch ManagementAPI.checkTarget(request.uri.string) {
        case .success(let target):
            (path, query) = target
        case .failure(let problem):
            context.logger.info("Management request refused", metadata: [LogKey.authnDescription: .string(problem.reason)])
            throw .problem(.badRequest, "Bad request target", "\(problem.reason); send the path as roles' API names it (docs/roles.md, API)")
        }
        guard let access = ManagementAPI.access(method: request.method, path: path) else {
            throw .problem(.notFound, "Not Found", "no management route \(request.method.rawValue) \(path); see docs/roles.md (API) for the /v2 routes")
        }
        let authentication: Authentication
        do {
            authentication = try await caller(request, context: context)
        } catch {
            return failureResponse(error, context: context, problem: true)
        }
        let isAdmin = authenticator.isAdmin(authentication)
        let method = AuthnDecisions.Method(authentication.principal.authenticationMethod)
        switch access {
        case .read where !isAdmin && !authenticator.isReader(authentication):
            decisions.refused(.roleMissing, method: method)
            return problem(.forbidden, "Forbidden", reason: .roleMissing,
                           "'\(authentication.principal.principal)' may not read \(path): reading roles and mapping rules needs one of the roles \((configuration.readerRoles + configuration.adminRoles).joined(separator: ", ")) (CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES, CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES)",
                           context: context)
        case .write where !isAdmin, .audit where !isAdmin:
            decisions.refused(.roleMissing, method: method)
            return problem(.forbidden, "Forbidden", reason: .roleMissing,
                           "'\(authentication.principal.principal)' may not \(access == .audit ? "read the audit log" : "change \(path)"): that needs one of the roles \(configuration.adminRoles.joined(separator: ", ")) (CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES)",
                           context: context)
        default:
            decisions.accepted(authentication.principal.authenticationMethod)
        }
        guard let roles else {
            throw .problem(.serviceUnavailable, "Roles service not configured",
                           "the /v2 management API is served by the roles service; set CAMUNDA_ROLES_URL (e.g. https://roles:8445)")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw .problem(.contentTooLarge, "Request too large", "the request body is larger than \(context.maxUploadSize) bytes")
        }
        let fields: HTTPFields
        do {
            fields = try authenticator.callerHeaders(authentication)
        } catch {
            return failureResponse(error, context: context, problem: true)
        }
        var headers = HTTPHeaders()
        for field in fields { headers.add(name: field.name.canonicalName, value: field.value) }
        if let contentType = request.headers[.contentType] { headers.add(name: "content-type", value: contentType) }
        headers.add(name: "accept", value: "application/json")
        let target = query.map { "\(path)?\($0)" } ?? path
        do {
            let answer = try await roles.send(
                method: HTTPMethod(rawValue: request.method.rawValue), path: target, headers: headers,
                body: body.readableBytes > 0 ? body : nil, trace: context.trace)
            var fields: HTTPFields = [:]
            if let contentType = answer.headers.first(name: "content-type") { fields[.contentType] = contentType }
            if let location = answer.headers.first(name: "location") { fields[.location] = location }
            return Response(status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: answer.body))
        } catch {
            throw .problem(.badGateway, "Roles service unavailable", error.message)
        }
    }

    // MARK: - Helpers

    /// nil when the connection's certificate is from the internal CA (and its service is allowed); else the refusal.
    func checkInternalCaller(_ context: ServiceRequestContext) async -> Response? {
        guard let internalCallers else {
            return internalCallerRefused(.callerTrustStoreMissing, context: context,
                errorDescription: "POST /v1/authenticate is for services of the suite, and this listener has no SERVER_SSL_TRUST_STORE to check them with")
        }
        guard let peer = await context.peerCertificate() else {
            return internalCallerRefused(.callerCertificateMissing, context: context,
                errorDescription: "POST /v1/authenticate needs a client certificate from the internal CA; none was presented")
        }
        do {
            _ = try await internalCallers.validate(leaf: peer, intermediates: [])
        } catch {
            return internalCallerRefused(.callerCertificateInvalid, context: context,
                errorDescription: "POST /v1/authenticate needs a client certificate from the internal CA: \(error.message)")
        }
        guard let identity = ServiceIdentity.name(of: peer, trustDomain: configuration.listener.serviceTrustDomain) else {
            return internalCallerRefused(.callerIdentityMissing, context: context,
                errorDescription: "POST /v1/authenticate is for services of the suite: the client certificate carries no service identity spiffe://\(configuration.listener.serviceTrustDomain)/<service> (certauth pki init issues service certificates with one)")
        }
        if !configuration.allowedCallers.isEmpty && !configuration.allowedCallers.contains(identity) {
            return internalCallerRefused(.callerNotAllowed, context: context,
                errorDescription: "service '\(identity)' may not call POST /v1/authenticate; allowed: \(configuration.allowedCallers.joined(separator: ", ")) (CAMUNDA_AUTHN_ALLOWED_CALLERS)")
        }
        return nil
    }

    /// A refusal of the service calling `POST /v1/authenticate` (403 `access_denied`), counted as a decision.
    private func internalCallerRefused(_ reason: AuthnReason, context: ServiceRequestContext, errorDescription: String) -> Response {
        decisions.refused(reason, method: .mtls)
        var body = OAuthErrorResponse(error: "access_denied", errorDescription: errorDescription, traceID: context.trace.traceID)
        body.reason = reason.rawValue
        return JSONResponse.oauthError(.forbidden, body)
    }

    func failureResponse(_ error: AuthenticationFailure, context: ServiceRequestContext, problem asProblem: Bool) -> Response {
        let description = error.reason
        decisions.refused(error)
        context.logger.info("Authentication refused", metadata: [
            LogKey.authnDescription: .string(description), LogKey.authnReason: .string(error.code.rawValue),
        ])
        var headers: HTTPFields = [:]
        let status: HTTPResponse.Status
        let code: String
        switch error.kind {
        case .missing:
            status = .unauthorized
            code = "missing_credentials"
            headers[.wwwAuthenticate] = "Bearer realm=\"certauth\", error_description=\"\(HTTPQuotedString.sanitized(description))\""
        case .unauthorized:
            status = .unauthorized
            code = "invalid_token"
            headers[.wwwAuthenticate] = "Bearer realm=\"certauth\", error=\"invalid_token\", error_description=\"\(HTTPQuotedString.sanitized(description))\""
        case .forbidden:
            status = .forbidden
            code = "insufficient_scope"
        case .unavailable:
            status = .serviceUnavailable
            code = "temporarily_unavailable"
            headers[.retryAfter] = "5"
        }
        if asProblem {
            var response = problem(status, status.reasonPhrase, reason: error.code, description, context: context)
            response.headers.append(contentsOf: headers)
            return response
        }
        var body = OAuthErrorResponse(error: code, errorDescription: description, traceID: context.trace.traceID)
        body.reason = error.code.rawValue
        var response = JSONResponse.make(status, body)
        response.headers.append(contentsOf: headers)
        return response
    }

    func problem(
        _ status: HTTPResponse.Status, _ title: String, reason: AuthnReason? = nil, _ detail: String, context: ServiceRequestContext
    ) -> Response {
        var body = Self.problemBody(status, title, detail)
        body.reason = reason?.rawValue
        return JSONResponse.problem(body)
    }

    static func problemBody(_ status: HTTPResponse.Status, _ title: String, _ detail: String) -> ProblemDetails {
        ProblemDetails(title: title, status: Int(status.code), detail: detail)
    }
}

extension HTTPField.Name {
    /// The credential used, for audit trails.
    static let authCredential = Self(ProtocolHeader.authCredential)!
    /// Roles a proxy location requires (any of; comma list).
    static let authRequireRole = Self("X-Auth-Require-Role")!
    /// `?1` when authn decided the caller is an admin.
    static let authAdmin = Self(ProtocolHeader.authAdmin)!
}
