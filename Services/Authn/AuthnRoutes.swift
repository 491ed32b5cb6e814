import AuthProtocol
import CertificateValidation
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceSupport
import X509

/// authn's HTTP surface (DESIGN.md §4).
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
    /// Answers of `/v2/authentication/me` and `/v1/forward-auth` for the lean path (``AuthnImmediate``).
    let answers = AnswerCache<AuthnLeanAnswer>()

    var immediate: AuthnImmediate {
        AuthnImmediate(answers: answers, verdicts: authenticator.certificates?.cache)
    }

    func register(on router: Router<ServiceRequestContext>) {
        router.get(RouterPath(ProtocolPath.me)) { request, context in
            await me(request, context: context)
        }
        router.get(RouterPath(ProtocolPath.forwardAuth)) { request, context in
            await forwardAuth(request, context: context)
        }
        router.post(RouterPath(ProtocolPath.authenticate)) { request, context in
            await authenticateEndpoint(request, context: context)
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("/v2/**", method: method) { request, context in
                await forwardToRoles(request, context: context)
            }
        }
    }

    // MARK: - Finding the caller

    /// Bearer token, then a certificate forwarded by a trusted proxy, then a session cookie, then the connection's
    /// client certificate, then (when configured) the service-account flow.
    func caller(_ request: Request, context: ServiceRequestContext) async throws(AuthenticationFailure) -> Authentication {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                let scheme = parts.first.map(String.init) ?? ""
                throw AuthenticationFailure(
                    .unauthorized,
                    "the Authorization header must be 'Bearer <access token>'; the scheme '\(scheme.prefix(20))' is not accepted")
            }
            let token = BearerToken.trimmed(parts[1])
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
        if let forwarded = request.headers[.sslClientCert], !forwarded.isEmpty {
            guard peerIsProxy else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "X-SSL-Client-Cert is honoured only from a trusted proxy that presents its own certificate listed in CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES; this connection presented \(peer == nil ? "no certificate" : "a certificate not on that list")")
            }
            let chain: [Certificate]
            do {
                chain = try CertificatePEM.parseForwarded(forwarded)
            } catch {
                throw AuthenticationFailure(.unauthorized, "the forwarded client certificate (X-SSL-Client-Cert) is unreadable: \(error.message)")
            }
            guard let leaf = chain.first else {
                throw AuthenticationFailure(.unauthorized, "the forwarded client certificate (X-SSL-Client-Cert) holds no certificate")
            }
            return try await authenticator.authenticate(
                leaf: leaf, presented: .list(Array(chain.dropFirst())), trace: context.trace)
        }
        if let cookie = Self.cookie(named: sessions.cookieName, in: request.headers) {
            do {
                if let session = try await sessions.lookup(cookie: cookie) {
                    return session
                }
            } catch {
                throw AuthenticationFailure(.unavailable, "the session store is unavailable: \(error)")
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
        throw AuthenticationFailure(.missing, "no credentials were presented; send \(ways.joined(separator: " or "))")
    }

    /// The client certificate of a request for certificate-bound tokens: a trusted proxy's forwarded certificate
    /// (`X-SSL-Client-Cert`), else the connection's own (never the proxy's).
    func presentedCertificate(_ request: Request, context: ServiceRequestContext) async throws(AuthenticationFailure) -> Certificate? {
        guard let peer = await context.peerCertificate() else { return nil }
        guard authenticator.certificates?.isTrustedProxy(peer) ?? false else { return peer }
        guard let forwarded = request.headers[.sslClientCert], !forwarded.isEmpty else { return nil }
        do {
            return try CertificatePEM.parseForwarded(forwarded).first
        } catch {
            throw AuthenticationFailure(.unauthorized, "the forwarded client certificate (X-SSL-Client-Cert) is unreadable: \(error.message)")
        }
    }

    static func cookie(named name: String, in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                if trimmed[..<equals] == name {
                    let value = String(trimmed[trimmed.index(after: equals)...])
                    return value.isEmpty ? nil : value
                }
            }
        }
        return nil
    }

    // MARK: - Endpoints

    func me(_ request: Request, context: ServiceRequestContext) async -> Response {
        let generation = authenticator.certificates?.cache.generation
        do {
            let authentication = try await caller(request, context: context)
            let body = ByteBuffer(bytes: authentication.principal.directJSON)
            let response = Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: .init(byteBuffer: body))
            await keep(response, body: body, authentication: authentication, route: .me, request: request, context: context,
                       verdictGeneration: generation)
            return response
        } catch {
            return failureResponse(error, context: context, problem: false)
        }
    }

    /// Keeps a 200 answer for the lean path (``AuthnImmediate``).
    private func keep(
        _ response: Response, body: ByteBuffer, authentication: Authentication, route: AuthnImmediate.Route, request: Request,
        context: ServiceRequestContext, verdictGeneration: UInt64?
    ) async {
        AuthnImmediate.keep(
            response, body: body, authentication: authentication, route: route, request: request,
            peerSHA256: await context.verifiedPeer()?.sha256, verdictGeneration: verdictGeneration,
            rolesTTL: authenticator.roles == nil ? nil : configuration.resolveCacheTTL, in: answers)
    }

    /// nginx `auth_request` / Traefik ForwardAuth. `X-Auth-Require-Role` (comma list, any of) lets the proxy ask for
    /// a role per location: 403 when the caller holds none of them (role names compare exactly, as everywhere).
    /// The caller goes back in the structured fields of DESIGN.md §3: `X-Auth-Principal` (Item), `X-Auth-Roles`
    /// (List of Strings), `X-Auth-Admin: ?1` for admins.
    func forwardAuth(_ request: Request, context: ServiceRequestContext) async -> Response {
        let generation = authenticator.certificates?.cache.generation
        do throws(AuthenticationFailure) {
            let authentication = try await caller(request, context: context)
            let principal = authentication.principal
            if let required = request.headers[.authRequireRole] {
                let wanted = Set(required.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                guard principal.roles.contains(where: { wanted.contains($0) }) else {
                    throw AuthenticationFailure(.forbidden, "'\(principal.principal)' holds none of the roles this location requires (\(required)); role names compare exactly, case included")
                }
            }
            var headers = try callerHeaders(authentication)
            headers[.cacheControl] = "no-store"
            let response = Response(status: .ok, headers: headers)
            await keep(response, body: ByteBuffer(), authentication: authentication, route: .forwardAuth, request: request,
                       context: context, verdictGeneration: generation)
            return response
        } catch {
            return failureResponse(error, context: context, problem: false)
        }
    }

    /// The `X-Auth-*` fields for `authentication` (DESIGN.md §3), or a refusal when a value cannot be carried without
    /// ambiguity (it was checked when read, so this means a bug or a role from an unchecked source).
    func callerHeaders(_ authentication: Authentication) throws(AuthenticationFailure) -> HTTPFields {
        var headers: HTTPFields = [:]
        do throws(AuthHeaders.Problem) {
            headers[.authPrincipal] = try AuthHeaders.encodePrincipal(authentication.principal.principal)
            headers[.authRoles] = try AuthHeaders.encodeRoles(authentication.principal.roles)
        } catch {
            throw AuthenticationFailure(.unauthorized, "the caller cannot be passed on unambiguously: \(error.message)")
        }
        if authenticator.isAdmin(authentication) { headers[.authAdmin] = AuthHeaders.adminTrue }
        headers[.authMethod] = authentication.principal.authenticationMethod.rawValue
        headers[.authCredential] = authentication.credential
        return headers
    }

    /// Internal: another service asks authn to check a token or a certificate chain it received.
    func authenticateEndpoint(_ request: Request, context: ServiceRequestContext) async -> Response {
        if let refusal = await checkInternalCaller(context) { return refusal }
        let body: AuthenticateRequest
        do {
            body = try await request.decode(as: AuthenticateRequest.self, context: context)
        } catch {
            return JSONResponse.oauthError(.badRequest, OAuthErrorResponse(
                error: "invalid_request",
                errorDescription: "the body must be JSON {\"token\": \"...\"}, {\"token\": \"...\", \"certificate_chain_pem\": \"...\"} or {\"certificate_chain_pem\": \"...\"}",
                traceID: context.trace.traceID))
        }
        do throws(AuthenticationFailure) {
            let authentication: Authentication
            switch (body.token, body.certificateChainPEM) {
            case (let token?, let pem):
                // certificate_chain_pem next to a token is the certificate the caller's client presented: a
                // certificate-bound token must match its leaf (RFC 8705 §3).
                let presentation = TokenPresentation.caller(certificate: { () async throws(AuthenticationFailure) -> Certificate? in
                    guard let pem else { return nil }
                    do throws(CertificateValidationError) {
                        return try CertificatePEM.parse(pem).first
                    } catch {
                        throw AuthenticationFailure(.unauthorized, "certificate_chain_pem is unreadable: \(error.message)")
                    }
                })
                authentication = try await authenticator.authenticate(token: token, presentation: presentation, trace: context.trace)
            case (nil, let pem?):
                let chain: [Certificate]
                do {
                    chain = try CertificatePEM.parse(pem)
                } catch {
                    throw AuthenticationFailure(.unauthorized, "certificate_chain_pem is unreadable: \(error.message)")
                }
                guard let leaf = chain.first else {
                    throw AuthenticationFailure(.unauthorized, "certificate_chain_pem holds no certificate")
                }
                authentication = try await authenticator.authenticate(leaf: leaf, presented: .list(Array(chain.dropFirst())), trace: context.trace)
            default:
                return JSONResponse.oauthError(.badRequest, OAuthErrorResponse(
                    error: "invalid_request",
                    errorDescription: "send \"token\" (optionally with \"certificate_chain_pem\" for certificate-bound tokens) or \"certificate_chain_pem\" alone",
                    traceID: context.trace.traceID))
            }
            return JSONResponse.make(.ok, authentication.principal)
        } catch {
            return failureResponse(error, context: context, problem: false)
        }
    }

    /// `/v2/**`: the target is checked (400 for anything that could be read two ways), the route decides what it
    /// needs (read: a reader or admin role; write and the audit log: an admin role; no such route: 404), and exactly
    /// the checked target is forwarded to roles with the caller in the structured `X-Auth-*` fields.
    func forwardToRoles(_ request: Request, context: ServiceRequestContext) async -> Response {
        let path: String
        let query: String?
        switch ManagementAPI.checkTarget(request.uri.string) {
        case .success(let target):
            (path, query) = target
        case .failure(let problem):
            context.logger.info("Management request refused", metadata: ["reason": .string(problem.reason)])
            return self.problem(.badRequest, "Bad request target", "\(problem.reason); send the path as roles' API names it (DESIGN.md §4)", context: context)
        }
        guard let access = ManagementAPI.access(method: request.method, path: path) else {
            return problem(.notFound, "Not Found", "no management route \(request.method.rawValue) \(path); see DESIGN.md §4 for the /v2 routes", context: context)
        }
        let authentication: Authentication
        do {
            authentication = try await caller(request, context: context)
        } catch {
            return failureResponse(error, context: context, problem: true)
        }
        let isAdmin = authenticator.isAdmin(authentication)
        switch access {
        case .read where !isAdmin && !authenticator.isReader(authentication):
            return problem(.forbidden, "Forbidden",
                           "'\(authentication.principal.principal)' may not read \(path): reading roles and mapping rules needs one of the roles \((configuration.readerRoles + configuration.adminRoles).joined(separator: ", ")) (CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES, CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES)",
                           context: context)
        case .write where !isAdmin, .audit where !isAdmin:
            return problem(.forbidden, "Forbidden",
                           "'\(authentication.principal.principal)' may not \(access == .audit ? "read the audit log" : "change \(path)"): that needs one of the roles \(configuration.adminRoles.joined(separator: ", ")) (CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES)",
                           context: context)
        default:
            break
        }
        guard let roles else {
            return problem(.serviceUnavailable, "Roles service not configured",
                           "the /v2 management API is served by the roles service; set CAMUNDA_ROLES_URL (e.g. https://roles:8445)", context: context)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            return problem(.contentTooLarge, "Request too large", "the request body is larger than \(context.maxUploadSize) bytes", context: context)
        }
        let fields: HTTPFields
        do {
            fields = try callerHeaders(authentication)
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
            return problem(.badGateway, "Roles service unavailable", error.message, context: context)
        }
    }

    // MARK: - Helpers

    /// nil when the connection's certificate is from the internal CA (and its service is allowed); else the refusal.
    func checkInternalCaller(_ context: ServiceRequestContext) async -> Response? {
        guard let internalCallers else {
            return JSONResponse.oauthError(.forbidden, OAuthErrorResponse(
                error: "access_denied",
                errorDescription: "POST /v1/authenticate is for services of the suite, and this listener has no SERVER_SSL_TRUST_STORE to check them with",
                traceID: context.trace.traceID))
        }
        guard let peer = await context.peerCertificate() else {
            return JSONResponse.oauthError(.forbidden, OAuthErrorResponse(
                error: "access_denied",
                errorDescription: "POST /v1/authenticate needs a client certificate from the internal CA; none was presented",
                traceID: context.trace.traceID))
        }
        do {
            _ = try await internalCallers.validate(leaf: peer, intermediates: [])
        } catch {
            return JSONResponse.oauthError(.forbidden, OAuthErrorResponse(
                error: "access_denied",
                errorDescription: "POST /v1/authenticate needs a client certificate from the internal CA: \(error.message)",
                traceID: context.trace.traceID))
        }
        guard let identity = ServiceIdentity.name(of: peer, trustDomain: configuration.listener.serviceTrustDomain) else {
            return JSONResponse.oauthError(.forbidden, OAuthErrorResponse(
                error: "access_denied",
                errorDescription: "POST /v1/authenticate is for services of the suite: the client certificate carries no service identity spiffe://\(configuration.listener.serviceTrustDomain)/<service> (certauth pki init issues service certificates with one)",
                traceID: context.trace.traceID))
        }
        if !configuration.allowedCallers.isEmpty && !configuration.allowedCallers.contains(identity) {
            return JSONResponse.oauthError(.forbidden, OAuthErrorResponse(
                error: "access_denied",
                errorDescription: "service '\(identity)' may not call POST /v1/authenticate; allowed: \(configuration.allowedCallers.joined(separator: ", ")) (CAMUNDA_AUTHN_ALLOWED_CALLERS)",
                traceID: context.trace.traceID))
        }
        return nil
    }

    func failureResponse(_ error: AuthenticationFailure, context: ServiceRequestContext, problem asProblem: Bool) -> Response {
        let description = error.reason
        context.logger.info("Authentication refused", metadata: ["reason": .string(description)])
        var headers: HTTPFields = [:]
        let status: HTTPResponse.Status
        let code: String
        switch error.kind {
        case .missing:
            status = .unauthorized
            code = "missing_credentials"
            headers[.wwwAuthenticate] = "Bearer realm=\"certauth\", error_description=\"\(Self.quoted(description))\""
        case .unauthorized:
            status = .unauthorized
            code = "invalid_token"
            headers[.wwwAuthenticate] = "Bearer realm=\"certauth\", error=\"invalid_token\", error_description=\"\(Self.quoted(description))\""
        case .forbidden:
            status = .forbidden
            code = "insufficient_scope"
        case .unavailable:
            status = .serviceUnavailable
            code = "temporarily_unavailable"
            headers[.retryAfter] = "5"
        }
        if asProblem {
            var response = problem(status, status.reasonPhrase, description, context: context)
            response.headers.append(contentsOf: headers)
            return response
        }
        var response = JSONResponse.make(status, OAuthErrorResponse(error: code, errorDescription: description, traceID: context.trace.traceID))
        response.headers.append(contentsOf: headers)
        return response
    }

    func problem(_ status: HTTPResponse.Status, _ title: String, _ detail: String, context: ServiceRequestContext) -> Response {
        var response = JSONResponse.make(status, ProblemDetails(title: title, status: Int(status.code), detail: detail))
        response.headers[.contentType] = ProblemDetails.contentType
        return response
    }

    /// An RFC 7230 quoted-string body: no quotes or backslashes, no control characters, bounded length.
    static func quoted(_ text: String) -> String {
        let cleaned = text.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"", "\\": return "'"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value > 0x7E: return " "
            default: return String(scalar)
            }
        }.joined()
        return cleaned.count > 400 ? String(cleaned.prefix(400)) + "..." : cleaned
    }
}

extension HTTPField.Name {
    /// A client certificate forwarded by a trusted proxy.
    static let sslClientCert = Self(ProtocolHeader.sslClientCert)!
    /// The credential used, for audit trails.
    static let authCredential = Self(ProtocolHeader.authCredential)!
    /// Roles a proxy location requires (any of; comma list).
    static let authRequireRole = Self("X-Auth-Require-Role")!
    /// `?1` when authn decided the caller is an admin.
    static let authAdmin = Self(ProtocolHeader.authAdmin)!
}
