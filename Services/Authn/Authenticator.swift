import AuthProtocol
import CertificateValidation
import Foundation
import HTTPTypes
import Logging
import ServiceClient
import ServiceSupport
import Synchronization
import TokenValidation
import WireFormat
import X509

/// A caller authn has authenticated.
public struct Authentication: Sendable, Codable, Equatable {
    /// What `/v2/authentication/me` answers.
    public var principal: PrincipalResponse
    /// When the token, certificate or session stops being valid.
    public var expiresAt: Date?
    /// Which credential was used, for audit trails: `jti=…; kid=…` or `x5t#S256=…`. Never a secret.
    public var credential: String
    /// Until when the verdict may be repeated without checking again, when that is before `expiresAt`: the freshness
    /// of the revocation data a certificate was checked against.
    public var reusableUntil: Date?

    public init(principal: PrincipalResponse, expiresAt: Date?, credential: String, reusableUntil: Date? = nil) {
        self.principal = principal
        self.expiresAt = expiresAt
        self.credential = credential
        self.reusableUntil = reusableUntil
    }
}

/// Why a caller was not let in; turned into 401 (RFC 6750 `WWW-Authenticate`), 403 or 503 by the routes.
public struct AuthenticationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No credentials at all (401 without an error code, as RFC 6750 §3.1 asks).
        case missing
        /// Bad credentials (401 `invalid_token`).
        case unauthorized
        /// Authenticated, but not allowed (403).
        case forbidden
        /// A dependency (IdP keys, roles, token-issuer) is unavailable (503).
        case unavailable
    }

    public var kind: Kind
    /// The reason: names the cause and the fix, never echoes a token.
    public var reason: String
    /// The short code of the refusal: the body's `reason` and the decision counter's label.
    public var code: AuthnReason
    /// The credential method refused, when the code alone does not tell (`roles_unavailable` after a token or a
    /// certificate).
    var method: AuthnDecisions.Method?

    public init(_ kind: Kind, _ reason: String, code: AuthnReason) {
        self.kind = kind
        self.reason = reason
        self.code = code
    }

    init(_ kind: Kind, _ reason: String, code: AuthnReason, method: AuthenticationMethod) {
        self.init(kind, reason, code: code)
        self.method = AuthnDecisions.Method(method)
    }

    public var description: String { reason }
}

/// Logs a security audit warning the first time a principal is granted a role whose name contains ADMIN
/// (the seed's "Role Management": admin grants are logged for monitoring; docs/roles.md, docs/authn.md). Bounded memory.
///
/// A `Mutex`, not an actor: the lean path (``AuthnImmediate``) notes grants on the connection's event loop, where it
/// may not wait for an actor; the critical section is one set lookup (and, the first time only, one insert).
final class AdminGrantAudit: Sendable {
    private let seen = Mutex<Set<String>>([])
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Whether `authentication` grants a role `note` looks at: checked before building the keys, so the common
    /// request (no admin role) costs one scan of its roles.
    static func concerns(_ authentication: Authentication) -> Bool {
        authentication.principal.roles.contains(where: isAdminLike)
    }

    static func isAdminLike(_ role: String) -> Bool {
        AdminGrantEvent.isAdminLike(role)
    }

    func note(_ authentication: Authentication) {
        for role in authentication.principal.roles where Self.isAdminLike(role) {
            let key = "\(authentication.principal.authenticationMethod.rawValue)|\(authentication.principal.principal)|\(role)"
            let first = seen.withLock { seen -> Bool in
                guard !seen.contains(key) else { return false }
                if seen.count >= 10_000 { seen.removeAll(keepingCapacity: true) }
                seen.insert(key)
                return true
            }
            guard first else { continue }
            AdminGrantEvent(.principalGranted, role: role, principal: authentication.principal.principal, details: [
                LogKey.method: authentication.principal.authenticationMethod.rawValue, LogKey.credential: authentication.credential,
            ]).log(to: logger)
        }
    }
}

/// Turns bearer tokens and client certificates into principals with roles. Shared by every route.
struct Authenticator: Sendable {
    let oidc: OIDCSettings?
    let tokens: TokenValidator?
    let certificates: ClientCertificateAuthenticator?
    let defaultRoles: [String]
    let roles: RolesResolver?
    let audit: AdminGrantAudit
    let adminRoles: Set<String>
    var readerRoles: Set<String> = []
    var logger = Logger(label: "authn")

    /// Whether the caller holds one of the admin roles (exact names: an IdP app role `Admin` is not `admin` unless
    /// `CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES` lists it; the one case rule of authn, roles and forward-auth). An
    /// anonymous caller is never an admin.
    func isAdmin(_ authentication: Authentication) -> Bool {
        authentication.principal.authenticationMethod != .anonymous
            && authentication.principal.roles.contains { adminRoles.contains($0) }
    }

    /// Whether the caller may read roles and mapping rules: one of `CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES`.
    func isReader(_ authentication: Authentication) -> Bool {
        authentication.principal.roles.contains { readerRoles.contains($0) }
    }

    /// `roles` without the values that cannot be one role in every encoding (``RoleName``: a `,`, white space or a
    /// control character), each refusal logged with `source(role)`, where it came from: `Reader,admin` from a token is
    /// neither one role nor two.
    func acceptedRoles(_ roles: [String], source: (String) -> String) -> [String] {
        guard roles.contains(where: { RoleName.problem($0) != nil }) else { return roles }
        return roles.filter { role in
            guard let problem = RoleName.problem(role) else { return true }
            logger.warning("Role value refused", metadata: [
                LogKey.roleName: .string(RoleName.shown(role)), LogKey.roleProblem: .string(problem), LogKey.roleSource: .string(source(role)),
            ])
            return false
        }
    }

    /// Where roles from `POST /v1/resolve` come from, for the log line of a refused one.
    static let resolvedSource = "roles service (/v1/resolve)"

    /// The configured role claims of `validated` that hold `role` (for the log line of a refused role).
    private func claimsHolding(_ role: String, in validated: ValidatedToken) -> String {
        let names = (oidc?.roleClaims ?? []).filter { name in
            switch validated.claims[name] {
            case .string(let text)?: return text == role
            case .array(let items)?: return items.contains { $0.stringValue == role }
            default: return false
            }
        }
        return "token claim \(names.isEmpty ? "(role claims)" : names.joined(separator: ", "))"
    }

    /// Validates a bearer token and resolves its roles.
    func authenticate(token: String, presentation: TokenPresentation, trace: TraceContext?) async throws(AuthenticationFailure) -> Authentication {
        guard let tokens, let oidc else {
            throw AuthenticationFailure(
                .unauthorized,
                "bearer tokens are not accepted here: authn runs on client certificates only (no CAMUNDA_IDENTITY_ISSUER or CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI configured); present a client certificate instead",
                code: .tokenNotAccepted)
        }
        let validated: ValidatedToken
        do {
            validated = try await tokens.validate(token)
        } catch {
            if error.code == .keysUnavailable {
                throw AuthenticationFailure(.unavailable, error.message, code: .jwksUnavailable)
            }
            throw AuthenticationFailure(.unauthorized, error.message, code: .token(error.code))
        }
        try await CertificateBinding.check(validated, presentation: presentation)
        var resolved: [String] = []
        if let roles {
            resolved = acceptedRoles(
                try await resolve(roles, ResolveRequest(claims: validated.claims), trace: trace, method: .oidc)) { _ in Self.resolvedSource }
        }
        let authentication = try authentication(of: validated, oidc: oidc, resolved: resolved)
        if AdminGrantAudit.concerns(authentication) { audit.note(authentication) }
        return authentication
    }

    /// The lean path's bearer authentication (issue 16 item 2): the same verdict as ``authenticate(token:presentation:trace:)``
    /// for a token whose signing key is loaded, made without waiting, on the caller's thread. Nil whenever that route
    /// would wait or refuse: no bearer tokens configured, roles from the roles service, a key to fetch, any failed
    /// check (the router then gives the refusal with its trace id and log line), or a certificate-bound token whose
    /// `cnf` is not the connection's certificate (`peer`), or that reaches authn through a trusted proxy (whose own
    /// certificate the route never takes for the caller's: ``AuthnRoutes/presentedCertificate(_:context:)``).
    func authenticateWithoutWaiting(token: String, peer: PeerCertificate?) -> Authentication? {
        guard let tokens, let oidc, roles == nil else { return nil }
        guard let validated = try? tokens.validateWithLoadedKeys(token) else { return nil }
        if let bound = validated.confirmationThumbprint {
            // RFC 8705 §3 as ``CertificateBinding`` checks it, against the connection's own certificate (requests with
            // a forwarded certificate never reach the lean path).
            guard let peer, !(certificates?.isTrustedProxy(peer.certificate) ?? false),
                  Base64URL.encode(peer.sha256) == bound.trimmingCharacters(in: CharacterSet(charactersIn: "="))
            else { return nil }
        }
        guard let authentication = try? authentication(of: validated, oidc: oidc, resolved: []) else { return nil }
        if AdminGrantAudit.concerns(authentication) { audit.note(authentication) }
        return authentication
    }

    /// The caller a validated token names, with the token's roles and `resolved` (already checked): shared by the
    /// router's path and the lean one, so both answer the same.
    private func authentication(of validated: ValidatedToken, oidc: OIDCSettings, resolved: [String]) throws(AuthenticationFailure) -> Authentication {
        let principal: String
        if let claim = oidc.principalClaim {
            guard let value = validated.claims[claim]?.stringValue, !value.isEmpty else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "token has no string claim '\(claim)', which CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PRINCIPAL_CLAIM names as the principal",
                    code: .tokenPrincipalMissing)
            }
            principal = value
        } else if let client = validated.clientID ?? validated.subject, !client.isEmpty {
            principal = client
        } else {
            throw AuthenticationFailure(.unauthorized, "token has none of the claims azp, appid, client_id or sub, so it names no caller",
                                        code: .tokenPrincipalMissing)
        }
        var granted = acceptedRoles(validated.roles) { claimsHolding($0, in: validated) }
        if !resolved.isEmpty { granted = merge(granted, resolved) }
        var credential = "kid=\(validated.keyID)"
        if let jti = validated.tokenID { credential = "jti=\(jti); " + credential }
        return Authentication(
            principal: PrincipalResponse(
                principal: principal, authenticationMethod: .oidc, clientID: validated.clientID, tenantID: validated.tenantID,
                roles: granted, authorities: merge(granted, validated.scopes), expiresAt: RFC3339.string(validated.expiresAt)),
            expiresAt: validated.expiresAt, credential: credential,
            // A token seen for the first time is not kept by the lean path: most are never sent again (a client that
            // fetches a token per call), and keeping them cost 7 % of such a request (perf, `make bench`
            // authn_unique). From its second use on, it is.
            reusableUntil: validated.seenBefore ? nil : .distantPast)
    }

    /// Validates a client certificate chain and resolves the subject's roles.
    func authenticate(
        leaf: Certificate, presented: PresentedIntermediates, leafSHA256: [UInt8]? = nil, trace: TraceContext?
    ) async throws(AuthenticationFailure) -> Authentication {
        guard let certificates else {
            throw AuthenticationFailure(
                .unauthorized,
                "client certificates are not accepted here: CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED is not true; send a bearer token instead",
                code: .certificateNotAccepted)
        }
        let validated: ValidatedCertificate
        do {
            validated = try await certificates.validate(leaf: leaf, presented: presented, leafSHA256: leafSHA256)
        } catch {
            throw AuthenticationFailure(.unauthorized, "client certificate refused: \(error.message)", code: .certificate(error.code))
        }
        let principal = try MTLSPrincipal.principal(
            of: leaf, subject: validated.subject, source: certificates.principalSource, mapper: certificates.mapper)
        var granted = defaultRoles
        if !certificates.defaultRolesByAnchor.isEmpty, let scoped = certificates.defaultRolesByAnchor[validated.anchorSPKISHA256] {
            granted = scoped
        }
        if let roles {
            // The issuer's key digest comes from the validated chain: roles' pinned rules (issuerSpkiSha256) match only
            // certificates that this CA key signed, whatever the issuer's DN.
            let request = ResolveRequest(
                certificateSubject: validated.subject, certificateSANs: MTLSPrincipal.sans(of: leaf),
                certificateIssuerSPKISHA256: validated.issuerSPKISHA256)
            granted = merge(granted, acceptedRoles(
                try await resolve(roles, request, trace: trace, method: .mtls)) { _ in Self.resolvedSource })
        }
        let authentication = Authentication(
            principal: PrincipalResponse(
                principal: principal, authenticationMethod: .mtls, roles: granted, authorities: granted,
                expiresAt: RFC3339.string(validated.notValidAfter)),
            expiresAt: validated.notValidAfter, credential: "x5t#S256=\(validated.thumbprintSHA256)",
            // A chain that needed intermediates the client presented holds for this connection's chain only (issue 16
            // item 4): such a verdict is not repeated by the lean path, which knows the leaf but not the chain.
            reusableUntil: Self.needsPresentedIntermediates(validated, configured: certificates.configuredIntermediates)
                ? .distantPast : validated.revocationCheckedUntil)
        if AdminGrantAudit.concerns(authentication) { audit.note(authentication) }
        return authentication
    }

    /// The `X-Auth-*` fields for `authentication` (docs/security-model.md), or a refusal when a value cannot be carried without
    /// ambiguity (it was checked when read, so this means a bug or a role from an unchecked source).
    func callerHeaders(_ authentication: Authentication) throws(AuthenticationFailure) -> HTTPFields {
        var headers: HTTPFields = [:]
        do throws(AuthHeaders.Problem) {
            headers[.authPrincipal] = try AuthHeaders.encodePrincipal(authentication.principal.principal)
            headers[.authRoles] = try AuthHeaders.encodeRoles(authentication.principal.roles)
        } catch {
            throw AuthenticationFailure(
                .unauthorized, "the caller cannot be passed on unambiguously: \(error.message)",
                code: .principalUnencodable, method: authentication.principal.authenticationMethod)
        }
        if isAdmin(authentication) { headers[.authAdmin] = AuthHeaders.adminTrue }
        headers[.authMethod] = authentication.principal.authenticationMethod.rawValue
        headers[.authCredential] = authentication.credential
        return headers
    }

    static func needsPresentedIntermediates(_ validated: ValidatedCertificate, configured: [Certificate]) -> Bool {
        validated.chain.dropFirst().dropLast().contains { !configured.contains($0) }
    }

    private func resolve(
        _ resolver: RolesResolver, _ request: ResolveRequest, trace: TraceContext?, method: AuthenticationMethod
    ) async throws(AuthenticationFailure) -> [String] {
        do {
            return try await resolver.resolve(request, trace: trace).roles
        } catch {
            throw AuthenticationFailure(.unavailable, "roles could not be resolved: \(error.message)", code: .rolesUnavailable, method: method)
        }
    }

    private func merge(_ first: [String], _ second: [String]) -> [String] {
        var seen = Set(first)
        var result = first
        for item in second where seen.insert(item).inserted {
            result.append(item)
        }
        return result
    }
}
