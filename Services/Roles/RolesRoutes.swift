import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceSupport
import Storage
import WireFormat

/// The end user authn forwards with a `/v2` request (`X-Auth-*` headers, trusted only from allowed callers). The
/// principal and roles are RFC 8941 structured fields, and whether the caller is an admin is authn's decision, sent
/// as `X-Auth-Admin: ?1` (docs/security-model.md): roles never re-derives it from a role string.
struct ForwardedUser: Sendable {
    var principal: String
    var roles: [String]
    var method: String
    var credential: String
    var isAdmin: Bool

    static let maxHeaderLength = 1024
    static let credentialField = HTTPField.Name(ProtocolHeader.authCredential)
    static let adminField = HTTPField.Name(ProtocolHeader.authAdmin)

    init(principal: String, roles: [String], method: String, credential: String, isAdmin: Bool) {
        self.principal = principal
        self.roles = roles
        self.method = method
        self.credential = credential
        self.isAdmin = isAdmin
    }

    /// Reads the headers; a request without `X-Auth-Principal` did not come through authn's authentication. A header
    /// that is not the structured field docs/security-model.md pins is refused (400), never guessed at.
    init(_ request: Request) throws(RolesError) {
        guard let rawPrincipal = request.headers[.authPrincipal], !rawPrincipal.isEmpty else {
            throw .forbidden("The request carries no \(ProtocolHeader.authPrincipal); roles answers /v2 requests only as forwarded by authn after it authenticated the caller.")
        }
        let rawRoles = request.headers[.authRoles] ?? ""
        let method = request.headers[.authMethod] ?? "unknown"
        let credential = Self.credentialField.flatMap { request.headers[$0] } ?? ""
        let rawAdmin = Self.adminField.flatMap { request.headers[$0] }
        for (name, value) in [(ProtocolHeader.authPrincipal, rawPrincipal), (ProtocolHeader.authRoles, rawRoles),
                              (ProtocolHeader.authMethod, method), (ProtocolHeader.authCredential, credential)]
        where value.utf8.count > Self.maxHeaderLength {
            throw .badRequest("\(name) is longer than \(Self.maxHeaderLength) bytes.", field: name)
        }
        do throws(AuthHeaders.Problem) {
            self.init(
                principal: try AuthHeaders.decodePrincipal(rawPrincipal),
                roles: try AuthHeaders.decodeRoles(rawRoles),
                method: method, credential: credential,
                isAdmin: try AuthHeaders.decodeAdmin(rawAdmin))
        } catch {
            throw .badRequest("\(error.message).")
        }
    }
}

/// `/v1/resolve` and the `/v2` management API.
struct RolesRoutes: Sendable {
    let state: RolesState
    let store: any RolesStore
    /// The SPIFFE trust domain of service identities (for the audit trail's caller).
    let trustDomain: String
    private let resolutions = Counter(label: "certauth_roles_resolutions_total")
    private let adminGrants = Counter(label: "certauth_roles_admin_grants_total")
    private let writes = Counter(label: "certauth_roles_writes_total")

    init(state: RolesState, store: any RolesStore, trustDomain: String = ServiceIdentity.defaultTrustDomain) {
        self.state = state
        self.store = store
        self.trustDomain = trustDomain
    }

    func register(on router: Router<ServiceRequestContext>) {
        router.post(RouterPath(ProtocolPath.resolve)) { request, context in
            try await resolve(request, context)
        }

        // Mapping rules.
        router.post(RouterPath(ProtocolPath.mappingRules)) { request, context in
            try await createMappingRule(request, context)
        }
        router.post(RouterPath(ProtocolPath.mappingRulesSearch)) { request, context in
            try await searchMappingRules(request, context, roleID: nil)
        }
        for path in ["/v2/mapping-rules/:mappingRuleId", "/v2/mapping-rules/search"] {
            // The second path: a rule whose id is "search" (the constant segment would otherwise shadow it).
            let id: @Sendable (ServiceRequestContext) -> String = { context in
                path.hasSuffix("search") ? "search" : Self.parameter(context, "mappingRuleId")
            }
            router.get(RouterPath(path)) { request, context in
                try getMappingRule(id(context))
            }
            router.put(RouterPath(path)) { request, context in
                try await updateMappingRule(id(context), request, context)
            }
            router.delete(RouterPath(path)) { request, context in
                try await deleteMappingRule(id(context), request, context)
            }
        }

        // Roles.
        router.post(RouterPath(ProtocolPath.roles)) { request, context in
            try await createRole(request, context)
        }
        router.post(RouterPath(ProtocolPath.rolesSearch)) { request, context in
            try await searchRoles(request, context)
        }
        for path in ["/v2/roles/:roleId", "/v2/roles/search"] {
            let id: @Sendable (ServiceRequestContext) -> String = { context in
                path.hasSuffix("search") ? "search" : Self.parameter(context, "roleId")
            }
            router.get(RouterPath(path)) { request, context in
                try getRole(id(context))
            }
            router.put(RouterPath(path)) { request, context in
                try await updateRole(id(context), request, context)
            }
            router.delete(RouterPath(path)) { request, context in
                try await deleteRole(id(context), request, context)
            }
        }
        for path in ["/v2/roles/:roleId/mapping-rules/:mappingRuleId", "/v2/roles/:roleId/mapping-rules/search"] {
            let ruleID: @Sendable (ServiceRequestContext) -> String = { context in
                path.hasSuffix("search") ? "search" : Self.parameter(context, "mappingRuleId")
            }
            router.put(RouterPath(path)) { request, context in
                try await assignment(assign: true, roleID: Self.parameter(context, "roleId"), ruleID: ruleID(context), request, context)
            }
            router.delete(RouterPath(path)) { request, context in
                try await assignment(assign: false, roleID: Self.parameter(context, "roleId"), ruleID: ruleID(context), request, context)
            }
        }
        router.post("/v2/roles/:roleId/mapping-rules/search") { request, context in
            try await searchMappingRules(request, context, roleID: Self.parameter(context, "roleId"))
        }

        router.get(RouterPath(ProtocolPath.auditLog)) { request, context in
            try await auditLog(request, context)
        }
    }

    // MARK: - Resolution

    private func resolve(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let answer = try Self.resolution(of: try await request.body.collect(upTo: context.maxUploadSize), in: state.view)
        resolutions.increment()
        return JSONResponse.make(.ok, answer)
    }

    /// The answer to a `/v1/resolve` body, from the current view: synchronous, so the lean path (``RolesImmediate``)
    /// and the route share it.
    static func resolution(of buffer: ByteBuffer, in view: RolesView) throws(RolesError) -> ResolveResponse {
        // JSONSerialization rather than JSONDecoder: JSONValue's Decodable was 14 % of a resolution (perf, make bench).
        guard let body = ResolveRequest(json: Data(buffer.readableBytesView)) else {
            throw RolesError.badRequest(
                "The body is not a resolve request; expected {\"claims\": {...}, \"certificate_subject\": \"CN=...\"}.")
        }
        var subject: DistinguishedName?
        if let text = body.certificateSubject {
            do {
                subject = try DistinguishedName(parsing: text)
            } catch {
                throw RolesError.badRequest(
                    "certificate_subject is not an RFC 4514 DN: \(error.description).", field: "certificate_subject")
            }
        }
        var issuer: String?
        if let pin = body.certificateIssuerSPKISHA256 {
            guard let canonical = SPKIDigest.canonical(pin) else {
                throw RolesError.badRequest(
                    "certificate_issuer_spki_sha256 must be \(SPKIDigest.expectedForm).", field: "certificate_issuer_spki_sha256")
            }
            issuer = canonical
        }
        return view.resolve(
            claims: body.claims, subject: subject, subjectText: body.certificateSubject,
            certificate: CertificateFacts(sans: body.certificateSANs ?? [], issuerSPKISHA256: issuer))
    }

    // MARK: - Mapping rules

    private func createMappingRule(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let (user, fields) = try await adminWrite(request, context, known: ["mappingRuleId", "claimName", "claimValue", "name", "kind", "issuerSpkiSha256"])
        let id = try fields.identifier("mappingRuleId")
        let rule = try Self.mappingRule(id: id, fields)
        try await write(.createMappingRule(rule), user: user, context)
        return JSONResponse.make(.created, Self.wire(rule))
    }

    /// The admin caller of a write and its JSON body, checked for members outside `known`.
    private func adminWrite(
        _ request: Request, _ context: ServiceRequestContext, known: [String]
    ) async throws -> (ForwardedUser, JSONFields) {
        let user = try ForwardedUser(request)
        try requireAdmin(user)
        let fields = try JSONFields.parse(try await request.body.collect(upTo: context.maxUploadSize))
        try fields.checkKnown(known)
        return (user, fields)
    }

    private func getMappingRule(_ id: String) throws -> Response {
        guard let rule = state.view.rules[id] else { throw RolesError.notFound("No mapping rule with mappingRuleId '\(id)' exists.", field: "mappingRuleId") }
        return JSONResponse.make(.ok, Self.wire(rule))
    }

    private func updateMappingRule(_ id: String, _ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let (user, fields) = try await adminWrite(request, context, known: ["mappingRuleId", "claimName", "claimValue", "name", "kind", "issuerSpkiSha256"])
        if let bodyID = try fields.string("mappingRuleId", required: false), bodyID != id {
            throw RolesError.badRequest("'mappingRuleId' in the body ('\(bodyID)') differs from the path ('\(id)'); ids cannot change.", field: "mappingRuleId")
        }
        let rule = try Self.mappingRule(id: id, fields)
        try await write(.updateMappingRule(rule), user: user, context)
        return JSONResponse.make(.ok, Self.wire(rule))
    }

    private func deleteMappingRule(_ id: String, _ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let user = try ForwardedUser(request)
        try requireAdmin(user)
        try await write(.deleteMappingRule(id: id), user: user, context)
        return Response(status: .noContent)
    }

    private func searchMappingRules(_ request: Request, _ context: ServiceRequestContext, roleID: String?) async throws -> Response {
        _ = try ForwardedUser(request)
        let body = try JSONFields.parse(try await request.body.collect(upTo: context.maxUploadSize), allowEmpty: true)
        let fields = ["mappingRuleId", "claimName", "claimValue", "name", "kind", "issuerSpkiSha256"]
        var spec = try SearchSpec.parse(body, filterFields: fields, sortFields: fields) { key, value throws(RolesError) in
            if key == "issuerSpkiSha256", !value.isEmpty, SPKIDigest.canonical(value) == nil {
                throw .badRequest("'filter.issuerSpkiSha256' must be \(SPKIDigest.expectedForm).", field: "filter.issuerSpkiSha256")
            }
            if key == "kind", MappingRuleKind(rawValue: value) == nil {
                throw .badRequest("'filter.kind' must be one of \(MappingRuleKind.allCases.map(\.rawValue).joined(separator: ", ")).", field: "filter.kind")
            }
        }
        if let pin = spec.filter["issuerSpkiSha256"], !pin.isEmpty { spec.filter["issuerSpkiSha256"] = SPKIDigest.canonical(pin) }
        let view = state.view
        var rules = Array(view.rules.values)
        if let roleID {
            guard view.roles[roleID] != nil else { throw RolesError.notFound("No role with roleId '\(roleID)' exists.", field: "roleId") }
            let assigned = view.rulesByRole[roleID] ?? []
            rules = rules.filter { assigned.contains($0.id) }
        }
        let (page, total) = spec.apply(rules, idField: "mappingRuleId") { rule, field in
            switch field {
            case "mappingRuleId": rule.id
            case "claimName": rule.claimName
            case "claimValue": rule.claimValue
            case "name": rule.name
            case "kind": rule.kind.rawValue
            case "issuerSpkiSha256": rule.issuerSPKISHA256
            default: ""
            }
        }
        return JSONResponse.make(.ok, SearchResponse(items: page.map(Self.wire), page: SearchResponsePage(totalItems: total)))
    }

    /// Checks a mapping rule body for `kind`; DNs must parse, regexes compile and SAN/SPIFFE patterns be well formed
    /// when written; `issuerSpkiSha256` (certificate rules only) is kept as lower-case hex.
    static func mappingRule(id: String, _ fields: JSONFields) throws(RolesError) -> MappingRuleRecord {
        var rule = try criteria(id: id, fields)
        if let pin = try fields.string("issuerSpkiSha256", required: false), !pin.isEmpty {
            guard rule.kind.isCertificateRule else {
                throw .badRequest(
                    "'issuerSpkiSha256' pins the CA that issued a client certificate, so it belongs on certificate rules (kind subject_dn, subject_dn_regex, san_dns, san_uri, spiffe_id), not on a claim rule.",
                    field: "issuerSpkiSha256")
            }
            guard let canonical = SPKIDigest.canonical(pin) else {
                throw .badRequest("'issuerSpkiSha256' must be \(SPKIDigest.expectedForm).", field: "issuerSpkiSha256")
            }
            rule.issuerSPKISHA256 = canonical
        }
        return rule
    }

    private static func criteria(id: String, _ fields: JSONFields) throws(RolesError) -> MappingRuleRecord {
        var kind = MappingRuleKind.claim
        if let text = try fields.string("kind", required: false) {
            guard let parsed = MappingRuleKind(rawValue: text) else {
                throw .badRequest("'kind' is '\(text)'; expected one of \(MappingRuleKind.allCases.map(\.rawValue).joined(separator: ", ")).", field: "kind")
            }
            kind = parsed
        }
        let name = try fields.text("name", required: true, maxLength: RoleValidation.maxNameLength) ?? ""
        switch kind {
        case .claim:
            let claimName = try fields.text("claimName", required: true, maxLength: RoleValidation.maxClaimNameLength) ?? ""
            let claimValue = try fields.text("claimValue", required: true, maxLength: RoleValidation.maxClaimValueLength) ?? ""
            return MappingRuleRecord(id: id, name: name, kind: kind, claimName: claimName, claimValue: claimValue)
        case .subjectDN:
            _ = try fields.string("claimName", required: false)  // allowed, ignored
            let value = try fields.text("claimValue", required: true, maxLength: RoleValidation.maxSubjectValueLength) ?? ""
            let dn: DistinguishedName
            do {
                dn = try DistinguishedName(parsing: value)
            } catch {
                throw .badRequest("'claimValue' is not an RFC 4514 DN: \(error.description). Example: CN=operate, OU=Operate, O=Camunda, C=DE.", field: "claimValue")
            }
            if dn.looksReversed {
                throw .badRequest(
                    "'claimValue' lists the RDNs most general first (as `openssl x509 -subject` prints them); subjects are compared in RFC 4514 order, most specific first: \(dn.reversed).",
                    field: "claimValue")
            }
            return MappingRuleRecord(id: id, name: name, kind: kind, claimName: "", claimValue: value)
        case .subjectDNRegex:
            _ = try fields.string("claimName", required: false)
            let pattern = try fields.text("claimValue", required: true, maxLength: RoleValidation.maxSubjectValueLength) ?? ""
            if let quote = pattern.range(of: "\\Q", options: .backwards), pattern[quote.upperBound...].range(of: "\\E") == nil {
                throw .badRequest("'claimValue' opens a \\Q quote without closing it with \\E.", field: "claimValue")
            }
            do {
                _ = try RuleCompiler.compile(pattern)
            } catch {
                throw .badRequest(
                    "'claimValue' is not a valid regular expression (ICU/Java syntax, matched against the whole subject, e.g. CN=(.*?), OU=(.*?), O=Camunda, C=DE).",
                    field: "claimValue")
            }
            return MappingRuleRecord(id: id, name: name, kind: kind, claimName: "", claimValue: pattern)
        case .sanDNS:
            _ = try fields.string("claimName", required: false)
            let value = try fields.text("claimValue", required: true, maxLength: RoleValidation.maxClaimValueLength) ?? ""
            if let problem = DNSNamePattern.problem(value) {
                throw .badRequest("'claimValue' \(problem). Example: operate.prod.example, or *.svc.prod.example for one label.", field: "claimValue")
            }
            return MappingRuleRecord(id: id, name: name, kind: kind, claimName: "", claimValue: DNSNamePattern.normalized(value))
        case .sanURI:
            _ = try fields.string("claimName", required: false)
            let value = try fields.text("claimValue", required: true, maxLength: CertificateSAN.maximumLength) ?? ""
            guard let components = URLComponents(string: value), components.scheme != nil else {
                throw .badRequest("'claimValue' is not an absolute URI (RFC 3986), e.g. urn:example:operate or https://id.example/operate; it is compared exactly with the certificate's URI subjectAltNames.", field: "claimValue")
            }
            return MappingRuleRecord(id: id, name: name, kind: kind, claimName: "", claimValue: value)
        case .spiffeID:
            _ = try fields.string("claimName", required: false)
            let value = try fields.text("claimValue", required: true, maxLength: CertificateSAN.maximumLength) ?? ""
            if let problem = SPIFFEPattern.problem(value) {
                throw .badRequest(
                    "'claimValue' \(problem); expected spiffe://<trust domain>/<path>, where '*' matches within one path segment and a '**' segment any number of segments, e.g. spiffe://prod.example/ns/payments/sa/*.",
                    field: "claimValue")
            }
            return MappingRuleRecord(id: id, name: name, kind: kind, claimName: "", claimValue: value)
        }
    }

    static func wire(_ rule: MappingRuleRecord) -> MappingRule {
        MappingRule(mappingRuleId: rule.id, claimName: rule.claimName, claimValue: rule.claimValue, name: rule.name, kind: rule.kind,
                    issuerSpkiSha256: rule.issuerSPKISHA256.isEmpty ? nil : rule.issuerSPKISHA256)
    }

    // MARK: - Roles

    private func createRole(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let (user, fields) = try await adminWrite(request, context, known: ["roleId", "name", "description"])
        let id = try fields.identifier("roleId")
        let role = try Self.role(id: id, fields)
        try await write(.createRole(role), user: user, context)
        return JSONResponse.make(.created, Self.wire(role))
    }

    private func getRole(_ id: String) throws -> Response {
        guard let role = state.view.roles[id] else { throw RolesError.notFound("No role with roleId '\(id)' exists.", field: "roleId") }
        return JSONResponse.make(.ok, Self.wire(role))
    }

    private func updateRole(_ id: String, _ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let (user, fields) = try await adminWrite(request, context, known: ["roleId", "name", "description"])
        if let bodyID = try fields.string("roleId", required: false), bodyID != id {
            throw RolesError.badRequest("'roleId' in the body ('\(bodyID)') differs from the path ('\(id)'); ids cannot change.", field: "roleId")
        }
        let role = try Self.role(id: id, fields)
        try await write(.updateRole(role), user: user, context)
        return JSONResponse.make(.ok, Self.wire(role))
    }

    private func deleteRole(_ id: String, _ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let user = try ForwardedUser(request)
        try requireAdmin(user)
        try await write(.deleteRole(id: id), user: user, context)
        return Response(status: .noContent)
    }

    private func assignment(
        assign: Bool, roleID: String, ruleID: String, _ request: Request, _ context: ServiceRequestContext
    ) async throws -> Response {
        let user = try ForwardedUser(request)
        try requireAdmin(user)
        let mutation: RolesMutation = assign ? .assign(roleID: roleID, mappingRuleID: ruleID) : .unassign(roleID: roleID, mappingRuleID: ruleID)
        try await write(mutation, user: user, context)
        return Response(status: .noContent)
    }

    private func searchRoles(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        _ = try ForwardedUser(request)
        let body = try JSONFields.parse(try await request.body.collect(upTo: context.maxUploadSize), allowEmpty: true)
        let spec = try SearchSpec.parse(body, filterFields: ["roleId", "name"], sortFields: ["roleId", "name"])
        let (page, total) = spec.apply(Array(state.view.roles.values), idField: "roleId") { role, field in
            field == "name" ? role.name : role.id
        }
        return JSONResponse.make(.ok, SearchResponse(items: page.map(Self.wire), page: SearchResponsePage(totalItems: total)))
    }

    static func role(id: String, _ fields: JSONFields) throws(RolesError) -> RoleRecord {
        let name = try fields.text("name", required: true, maxLength: RoleValidation.maxNameLength) ?? ""
        let description = try fields.text(
            "description", required: false, maxLength: RoleValidation.maxDescriptionLength, allowEmpty: true) ?? ""
        return RoleRecord(id: id, name: name, description: description)
    }

    static func wire(_ role: RoleRecord) -> Role {
        Role(roleId: role.id, name: role.name, description: role.description)
    }

    // MARK: - Audit

    private func auditLog(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let user = try ForwardedUser(request)
        try requireAdmin(user)
        let query = request.uri.queryParameters
        for (key, _) in query where !["limit", "before"].contains(String(key)) {
            throw RolesError.badRequest("Unknown query parameter '\(key)'; allowed: limit (1-1000), before (an entry id).", field: String(key))
        }
        var limit = SearchSpec.defaultLimit
        if let text = query.get("limit") {
            guard let value = Int(text), (1...SearchSpec.maxLimit).contains(value) else {
                throw RolesError.badRequest("'limit' must be a whole number from 1 to \(SearchSpec.maxLimit).", field: "limit")
            }
            limit = value
        }
        var before: Int64?
        if let text = query.get("before") {
            guard let value = Int64(text), value > 0 else {
                throw RolesError.badRequest("'before' must be a positive entry id.", field: "before")
            }
            before = value
        }
        let page = try await stored(context) { try await store.auditLog(limit: limit, before: before) }
        let items = page.entries.map { entry in
            AuditLogEntry(
                id: entry.id, timestamp: Self.timestamp(entry.timestamp),
                caller: entry.actor.caller, principal: entry.actor.principal, authenticationMethod: entry.actor.method,
                credential: entry.actor.credential, action: entry.action, target: entry.target, details: entry.details)
        }
        return JSONResponse.make(.ok, SearchResponse(items: items, page: SearchResponsePage(totalItems: page.total)))
    }

    // MARK: - Shared

    private func requireAdmin(_ user: ForwardedUser) throws(RolesError) {
        guard user.isAdmin else {
            throw .forbidden("'\(user.principal)' is not an admin (authn sends \(ProtocolHeader.authAdmin): ?1 for callers holding one of CAMUNDA_SECURITY_AUTHORIZATION_ADMIN_ROLES); changing roles and mapping rules and reading the audit log need it.")
        }
    }

    /// Commits a change with its audit entries, brings this replica's view up to date before answering, and logs
    /// admin grants as security warnings.
    private func write(_ mutation: RolesMutation, user: ForwardedUser, _ context: ServiceRequestContext) async throws {
        let caller = await context.callerIdentity(trustDomain: trustDomain) ?? "unknown"
        let actor = AuditActor(caller: caller, principal: user.principal, method: user.method, credential: user.credential)
        let result = try await stored(context) { try await store.apply(mutation, by: actor, at: Date()) }
        writes.increment()
        await state.committed(mutation, result: result)
        for grant in result.adminGrants {
            adminGrants.increment()
            AdminGrantEvent(.mappingRule, role: grant.roleName, principal: user.principal, details: [
                LogKey.roleID: grant.roleID, LogKey.mappingRuleID: grant.mappingRuleID, LogKey.method: user.method,
                LogKey.credential: user.credential, LogKey.caller: caller,
            ]).log(to: context.logger)
        }
    }

    /// Runs a storage call: its ``StorageError`` becomes the answer (``RolesError/init(storage:)``), an unavailable
    /// database logged with its cause; anything else goes on to ``ErrorLoggingMiddleware`` (500 `server_error`).
    private func stored<T>(_ context: ServiceRequestContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StorageError {
            if error.code == .unavailable || error.code == .incompatibleSchema {
                context.logger.error("Roles database unavailable", error: error)
            }
            throw RolesError(storage: error)
        }
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2025-06-15T08:30:00.123Z`.
    static func timestamp(_ date: Date) -> String {
        RFC3339.stringWithMilliseconds(date)
    }

    static func parameter(_ context: ServiceRequestContext, _ name: String) -> String {
        let raw = context.parameters.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }
}

/// The lean path of roles (issue 16): `POST /v1/resolve` from an allowed service is answered at once on the event loop
/// from the published in-memory view (no task, no router); the same checks as ``CallerCheckMiddleware`` and the route.
/// Anything else (a refused caller, a bad body) goes to the router, which answers it with its problem details.
struct RolesImmediate: ImmediateResponder {
    let state: RolesState
    let allowed: Set<String>
    let trustDomain: String
    let metrics = RouteMetrics(route: ProtocolPath.resolve, method: .post)
    let resolutions = Counter(label: "certauth_roles_resolutions_total")
    static let headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]

    func immediateAnswer(to request: ImmediateRequest) -> ImmediateAnswer? {
        guard request.method == .post, request.path == ProtocolPath.resolve, let peer = request.peer,
              let identity = peer.serviceName(trustDomain: trustDomain), allowed.contains(identity),
              let answer = try? RolesRoutes.resolution(of: request.body, in: state.view)
        else { return nil }
        resolutions.increment()
        return ImmediateAnswer(headers: Self.headers, body: ByteBuffer(bytes: answer.directJSON), metrics: metrics)
    }
}
