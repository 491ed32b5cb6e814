import AsyncHTTPClient
import AuthProtocol
import DevPKI
import Foundation
import NIOCore
import NIOHTTP1
import Roles
import ServiceSupport
import Storage
import Testing
import TestSupport
import WireFormat

/// The `/v2` management API and `/v1/resolve` over HTTPS with client certificates, on SQLite and on PostgreSQL.
@Suite struct RolesAPITests {
    @Test(arguments: TestDatabase.allCases)
    func mappingRuleLifecycle(_ kind: TestDatabase) async throws {
        try await RolesHarness.run(kind) { roles in
            let body = #"{"mappingRuleId": "entra-admins", "claimName": "roles", "claimValue": "Admin", "name": "Entra admins"}"#
            let created = try await roles.send(.POST, "/v2/mapping-rules", json: body)
            #expect(created.status == 201)
            #expect(created.contentType == "application/json")
            let expected = MappingRule(mappingRuleId: "entra-admins", claimName: "roles", claimValue: "Admin", name: "Entra admins", kind: .claim)
            #expect(try created.decode(MappingRule.self) == expected)
            #expect(try await roles.send(.GET, "/v2/mapping-rules/entra-admins").decode(MappingRule.self) == expected)

            let duplicate = try await roles.send(.POST, "/v2/mapping-rules", json: body)
            #expect(duplicate.status == 409)
            #expect(duplicate.contentType == ProblemDetails.contentType)
            #expect(duplicate.problem?.field == "mappingRuleId")
            #expect(duplicate.problem?.instance == "/v2/mapping-rules")

            let update = #"{"claimName": "roles", "claimValue": "Owner", "name": "Entra owners"}"#
            let updated = try await roles.send(.PUT, "/v2/mapping-rules/entra-admins", json: update)
            #expect(updated.status == 200)
            #expect(try updated.decode(MappingRule.self).claimValue == "Owner")
            #expect(try await roles.send(.GET, "/v2/mapping-rules/entra-admins").decode(MappingRule.self).name == "Entra owners")
            #expect(try await roles.send(.PUT, "/v2/mapping-rules/nope", json: update).status == 404)

            #expect(try await roles.send(.DELETE, "/v2/mapping-rules/entra-admins").status == 204)
            let gone = try await roles.send(.GET, "/v2/mapping-rules/entra-admins")
            #expect(gone.status == 404)
            #expect(gone.problem?.field == "mappingRuleId")
            #expect(try await roles.send(.DELETE, "/v2/mapping-rules/entra-admins").status == 404)

            // An id that spells a path segment still works.
            try await roles.createRule("search", value: "x")
            #expect(try await roles.send(.GET, "/v2/mapping-rules/search").decode(MappingRule.self).mappingRuleId == "search")
            try await roles.createRole("search")
            try await roles.assign("search", to: "search")
            #expect(try await roles.send(.GET, "/v2/roles/search").decode(Role.self).roleId == "search")
            #expect(try await roles.send(.DELETE, "/v2/roles/search/mapping-rules/search").status == 204)
        }
    }

    static let invalidRules: [(body: String, field: String?, detail: String)] = [
        (#"{"claimName": "oid", "claimValue": "v", "name": "n"}"#, "mappingRuleId", "No mappingRuleId provided"),
        (#"{"mappingRuleId": "a b", "claimName": "oid", "claimValue": "v", "name": "n"}"#, "mappingRuleId", "contains ' '"),
        (#"{"mappingRuleId": "\#(String(repeating: "x", count: 257))", "claimName": "oid", "claimValue": "v", "name": "n"}"#, "mappingRuleId", "longer than 256"),
        (#"{"mappingRuleId": "r", "claimName": "oid", "claimValue": "v", "name": "n", "extra": 1}"#, "extra", "Unknown field 'extra'"),
        (#"{"mappingRuleId": "r", "claimName": 5, "claimValue": "v", "name": "n"}"#, "claimName", "must be a string"),
        (#"{"mappingRuleId": "r", "claimValue": "v", "name": "n"}"#, "claimName", "No claimName provided"),
        (#"{"mappingRuleId": "r", "claimName": "oid", "name": "n"}"#, "claimValue", "No claimValue provided"),
        (#"{"mappingRuleId": "r", "claimName": "oid", "claimValue": "v", "name": "  "}"#, "name", "must not be empty"),
        (#"{"mappingRuleId": "r", "claimName": "oid", "claimValue": "v\u0001", "name": "n"}"#, "claimValue", "control character"),
        (#"{"mappingRuleId": "r", "claimName": "oid", "claimValue": "v", "name": "n", "kind": "group"}"#, "kind", "expected one of claim"),
        (#"{"mappingRuleId": "r", "claimValue": "CN=(unclosed", "name": "n", "kind": "subject_dn_regex"}"#, "claimValue", "not a valid regular expression"),
        (#"{"mappingRuleId": "r", "claimValue": "\\QCN=a", "name": "n", "kind": "subject_dn_regex"}"#, "claimValue", "\\Q"),
        (#"{"mappingRuleId": "r", "claimValue": "CN=a,,O=b", "name": "n", "kind": "subject_dn"}"#, "claimValue", "not an RFC 4514 DN"),
        (#"{"mappingRuleId": "r", "claimValue": "C=DE, O=Camunda, CN=operate", "name": "n", "kind": "subject_dn"}"#, "claimValue", "CN=operate, O=Camunda, C=DE"),
        (#"{"mappingRuleId": "r", "#, nil, "not valid JSON"),
        (#"["mappingRuleId"]"#, nil, "must be a JSON object"),
        ("", nil, "body is empty"),
    ]

    @Test(arguments: TestDatabase.allCases)
    func invalidBodiesAreProblemsNamingTheField(_ kind: TestDatabase) async throws {
        try await RolesHarness.run(kind) { roles in
            for (body, field, detail) in Self.invalidRules {
                let reply = try await roles.send(.POST, "/v2/mapping-rules", json: body)
                #expect(reply.status == 400, "\(body)")
                #expect(reply.contentType == ProblemDetails.contentType)
                let problem = try #require(reply.problem, "\(reply.text)")
                #expect(problem.status == 400)
                #expect(problem.field == field, "\(body): \(problem.detail)")
                #expect(problem.detail.contains(detail), "\(body): \(problem.detail)")
            }
            let badRole = try await roles.send(.POST, "/v2/roles", json: #"{"roleId": "x/y", "name": "n"}"#)
            #expect(badRole.problem?.field == "roleId")
            let badPath = try await roles.send(.PUT, "/v2/mapping-rules/a", json: #"{"mappingRuleId": "b", "claimName": "c", "claimValue": "v", "name": "n"}"#)
            #expect(badPath.status == 400)
            #expect(badPath.problem?.field == "mappingRuleId")
            // Nothing was written by any refused request.
            #expect(try await roles.instance.store.load().version == 0)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func searchFiltersSortsAndPages(_ kind: TestDatabase) async throws {
        try await RolesHarness.run(kind) { roles in
            for (id, claim, value) in [("r1", "oid", "c"), ("r2", "roles", "a"), ("r3", "oid", "b"), ("r4", "oid", "a")] {
                try await roles.createRule(id, claimName: claim, value: value)
            }
            try await roles.createRule("dn1", claimName: nil, value: "CN=x, O=y", kind: .subjectDN)
            let all = try await roles.send(.POST, "/v2/mapping-rules/search", headers: RolesHarness.readerHeaders)
            #expect(all.status == 200)
            let everything = try all.decode(SearchResponse<MappingRule>.self)
            #expect(everything.page.totalItems == 5)
            #expect(everything.items.map(\.mappingRuleId) == ["dn1", "r1", "r2", "r3", "r4"])
            #expect(everything.items.first?.kind == .subjectDN)

            let query = #"{"filter": {"claimName": "oid"}, "sort": [{"field": "claimValue", "order": "DESC"}], "page": {"from": 1, "limit": 1}}"#
            let page = try await roles.send(.POST, "/v2/mapping-rules/search", json: query, headers: RolesHarness.readerHeaders)
            let result = try page.decode(SearchResponse<MappingRule>.self)
            #expect(result.page.totalItems == 3)
            #expect(result.items.map(\.mappingRuleId) == ["r3"])

            let sortedAscending = try await roles.send(
                .POST, "/v2/mapping-rules/search", json: #"{"sort": [{"field": "claimValue"}, {"field": "claimName", "order": "desc"}]}"#)
            #expect(try sortedAscending.decode(SearchResponse<MappingRule>.self).items.map(\.mappingRuleId) == ["dn1", "r2", "r4", "r3", "r1"])

            for (body, field) in [
                (#"{"filter": {"owner": "x"}}"#, "filter.owner"),
                (#"{"sort": [{"field": "created"}]}"#, "sort[0].field"),
                (#"{"sort": [{"field": "name", "order": "UP"}]}"#, "sort[0].order"),
                (#"{"page": {"limit": 5000}}"#, "page.limit"),
                (#"{"page": {"from": -1}}"#, "page.from"),
                (#"{"page": {"after": "cursor"}}"#, "page.after"),
                (#"{"filter": {"kind": "group"}}"#, "filter.kind"),
            ] {
                let reply = try await roles.send(.POST, "/v2/mapping-rules/search", json: body)
                #expect(reply.status == 400, "\(body)")
                #expect(reply.problem?.field == field, "\(body): \(reply.text)")
            }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func rolesAndAssignments(_ kind: TestDatabase) async throws {
        try await RolesHarness.run(kind) { roles in
            let created = try await roles.send(.POST, "/v2/roles", json: #"{"roleId": "reader", "name": "Reader", "description": "reads"}"#)
            #expect(created.status == 201)
            #expect(try created.decode(Role.self) == Role(roleId: "reader", name: "Reader", description: "reads"))
            #expect(try await roles.send(.POST, "/v2/roles", json: #"{"roleId": "reader", "name": "Again"}"#).status == 409)
            #expect(try await roles.send(.GET, "/v2/roles/reader").decode(Role.self).name == "Reader")
            #expect(try await roles.send(.GET, "/v2/roles/writer").status == 404)
            let renamed = try await roles.send(.PUT, "/v2/roles/reader", json: #"{"name": "Readers"}"#)
            #expect(try renamed.decode(Role.self) == Role(roleId: "reader", name: "Readers", description: ""))

            try await roles.createRule("r1", value: "u1")
            try await roles.createRule("r2", value: "u2")
            try await roles.assign("r1", to: "reader")
            let twice = try await roles.send(.PUT, "/v2/roles/reader/mapping-rules/r1")
            #expect(twice.status == 409)
            #expect(twice.problem?.field == "mappingRuleId")
            let missingRule = try await roles.send(.PUT, "/v2/roles/reader/mapping-rules/nope")
            #expect(missingRule.status == 404)
            #expect(missingRule.problem?.field == "mappingRuleId")
            let missingRole = try await roles.send(.PUT, "/v2/roles/nope/mapping-rules/r1")
            #expect(missingRole.status == 404)
            #expect(missingRole.problem?.field == "roleId")

            let ofRole = try await roles.send(.POST, "/v2/roles/reader/mapping-rules/search", json: "{}")
            #expect(try ofRole.decode(SearchResponse<MappingRule>.self).items.map(\.mappingRuleId) == ["r1"])
            #expect(try await roles.send(.POST, "/v2/roles/nope/mapping-rules/search").status == 404)
            #expect(try await roles.resolve(ResolveRequest(claims: ["oid": .string("u1")])).roles == ["reader"])

            #expect(try await roles.send(.DELETE, "/v2/roles/reader/mapping-rules/r1").status == 204)
            #expect(try await roles.send(.DELETE, "/v2/roles/reader/mapping-rules/r1").status == 404)
            #expect(try await roles.resolve(ResolveRequest(claims: ["oid": .string("u1")])).roles.isEmpty)

            try await roles.createRole("writer", name: "Writer")
            let search = try await roles.send(.POST, "/v2/roles/search", json: #"{"sort": [{"field": "name", "order": "DESC"}]}"#)
            #expect(try search.decode(SearchResponse<Role>.self).items.map(\.roleId) == ["writer", "reader"])
            let filtered = try await roles.send(.POST, "/v2/roles/search", json: #"{"filter": {"name": "Writer"}}"#)
            #expect(try filtered.decode(SearchResponse<Role>.self).page.totalItems == 1)

            try await roles.assign("r2", to: "writer")
            #expect(try await roles.send(.DELETE, "/v2/roles/writer").status == 204)
            #expect(try await roles.send(.DELETE, "/v2/roles/writer").status == 404)
            #expect(try await roles.resolve(ResolveRequest(claims: ["oid": .string("u2")])).roles.isEmpty)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func resolveEveryRuleKind(_ kind: TestDatabase) async throws {
        try await RolesHarness.run(kind) { roles in
            try await roles.createRule("oid-rule", claimName: "oid", value: "aaa3a5e0-1479-477b-af0e-4747374b9ed6")
            try await roles.createRule("app-role", claimName: "roles", value: "Admin")
            try await roles.createRule("operate-dn", claimName: nil, value: "CN=operate,OU=Operate,O=Camunda,L=Berlin,ST=BE,C=DE,emailAddress=operate@camunda.com", kind: .subjectDN)
            try await roles.createRule("camunda-regex", claimName: nil, value: "CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)", kind: .subjectDNRegex)
            try await roles.createRole("operator")
            try await roles.createRole("component")
            for rule in ["oid-rule", "app-role", "operate-dn"] { try await roles.assign(rule, to: "operator") }
            try await roles.assign("camunda-regex", to: "component")

            #expect(try await roles.resolve(ResolveRequest(claims: ["oid": .string("aaa3a5e0-1479-477b-af0e-4747374b9ed6")]))
                == ResolveResponse(roles: ["operator"], mappingRules: ["oid-rule"]))
            #expect(try await roles.resolve(ResolveRequest(claims: ["roles": .array([.string("Reader"), .string("Admin")])]))
                == ResolveResponse(roles: ["operator"], mappingRules: ["app-role"]))
            let operate = ResolveRequest(certificateSubject: "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com")
            #expect(try await roles.resolve(operate) == ResolveResponse(roles: ["component", "operator"], mappingRules: ["camunda-regex", "operate-dn"]))
            let zeebe = ResolveRequest(certificateSubject: "CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=zeebe@camunda.com")
            #expect(try await roles.resolve(zeebe) == ResolveResponse(roles: ["component"], mappingRules: ["camunda-regex"]))
            #expect(try await roles.resolve(ResolveRequest(claims: ["oid": .string("someone-else")], certificateSubject: "CN=x, O=Other"))
                == ResolveResponse(roles: [], mappingRules: []))

            let bad = try await roles.send(.POST, "/v1/resolve", json: #"{"certificate_subject": "CN=a,,"}"#, headers: [:])
            #expect(bad.status == 400)
            #expect(bad.problem?.field == "certificate_subject")
            #expect(try await roles.send(.POST, "/v1/resolve", json: #"{"claims": 5}"#, headers: [:]).status == 400)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func onlyAllowedCallersAndAdminsGetIn(_ kind: TestDatabase) async throws {
        try await RolesHarness.run(kind) { roles in
            for identity in ["token-issuer", "entra-emulator"] {
                let other = try roles.pki.serviceClient(identity)
                try await TestPKI.using(other) {
                    let refused = try await roles.send(.POST, "/v1/resolve", json: "{}", headers: [:], client: other)
                    #expect(refused.status == 403)
                    #expect(refused.problem?.detail.contains("'\(identity)'") == true, "\(refused.text)")
                    #expect(try await roles.send(.POST, "/v2/roles/search", client: other).status == 403)
                }
            }
            let client = try roles.pki.client()
            try await TestPKI.using(client) {
                let refused = try await roles.send(.POST, "/v1/resolve", json: "{}", headers: [:], client: client)
                #expect(refused.status == 403)
                #expect(refused.problem?.detail.contains("no service identity") == true, "\(refused.text)")
            }

            // authn forwards users: reads need a principal, writes and the audit log need the role admin.
            #expect(try await roles.send(.POST, "/v2/roles/search", headers: RolesHarness.readerHeaders).status == 200)
            let anonymous = try await roles.send(.POST, "/v2/roles/search", headers: [:])
            #expect(anonymous.status == 403)
            #expect(anonymous.problem?.detail.contains("X-Auth-Principal") == true)
            let notAdmin = try await roles.send(.POST, "/v2/roles", json: #"{"roleId": "x", "name": "x"}"#, headers: RolesHarness.readerHeaders)
            #expect(notAdmin.status == 403)
            #expect(notAdmin.problem?.detail.contains("'bob'") == true)
            var entraAdmin = RolesHarness.readerHeaders
            entraAdmin["X-Auth-Roles"] = "Admin,ROLE_ADMIN"  // token roles are not the roles service's admin
            #expect(try await roles.send(.DELETE, "/v2/roles/x", headers: entraAdmin).status == 403)
            #expect(try await roles.send(.GET, "/v2/audit-log", headers: RolesHarness.readerHeaders).status == 403)
            #expect(try await roles.instance.store.load().version == 0)
        }
    }

    /// Security review finding: roles took the first DNS name of any certificate of the CA as the caller's service, so an
    /// end-user certificate named `authn` could set `X-Auth-*` itself. Only the SPIFFE ID marks a service now.
    @Test func anEndUserCertificateNamedLikeAServiceIsNotThatService() async throws {
        try await RolesHarness.run(.sqlite) { roles in
            let ca = try roles.pki.certificateAuthority()
            let impostor = try DevPKI.issueEndUser("authn", dnsNames: ["authn", "localhost"], issuer: ca)
            try roles.pki.write(impostor, as: "impostor-authn")
            let client = try roles.pki.pemClient("impostor-authn")
            try await TestPKI.using(client) {
                let write = try await roles.send(.POST, "/v2/roles", json: #"{"roleId": "pwned", "name": "pwned"}"#, client: client)
                #expect(write.status == 403, "\(write.text)")
                #expect(write.problem?.detail.contains("no service identity") == true, "\(write.text)")
                #expect(try await roles.send(.POST, "/v1/resolve", json: "{}", headers: [:], client: client).status == 403)
            }
            // The same name with the marker of another trust domain is not a service of this suite either.
            let foreign = try DevPKI.issueService("authn", ca: ca, trustDomain: "elsewhere", usage: .client)
            try roles.pki.write(foreign, as: "foreign-authn")
            let other = try roles.pki.pemClient("foreign-authn")
            try await TestPKI.using(other) {
                let refused = try await roles.send(.POST, "/v1/resolve", json: "{}", headers: [:], client: other)
                #expect(refused.status == 403)
            }
            #expect(try await roles.instance.store.load().version == 0)
        }
    }

    /// Security review finding: roles split `X-Auth-Roles` on commas and took any role named `admin` as an admin. The
    /// header is an RFC 8941 List now, and only authn's `X-Auth-Admin: ?1` makes an admin.
    @Test func theAdminDecisionIsAuthnsAndTheHeadersAreStructuredFields() async throws {
        try await RolesHarness.run(.sqlite) { roles in
            let body = #"{"roleId": "x", "name": "x"}"#
            var headers = RolesHarness.readerHeaders
            for forged in [#""Reader,admin""#, "Reader,admin", #""admin""#, "admin"] {
                headers["X-Auth-Roles"] = forged
                let refused = try await roles.send(.POST, "/v2/roles", json: body, headers: headers)
                #expect(refused.status == 403 || refused.status == 400, "\(forged): \(refused.text)")
            }
            headers["X-Auth-Roles"] = #""reader"; q=1"#
            #expect(try await roles.send(.POST, "/v2/roles/search", headers: headers).status == 400, "parameters are not roles")
            headers["X-Auth-Roles"] = #""unterminated"#
            let malformed = try await roles.send(.POST, "/v2/roles/search", headers: headers)
            #expect(malformed.status == 400)
            #expect(malformed.problem?.detail.contains("RFC 8941") == true, "\(malformed.text)")
            headers["X-Auth-Roles"] = #""reader""#
            headers["X-Auth-Admin"] = "yes"
            #expect(try await roles.send(.POST, "/v2/roles", json: body, headers: headers).status == 400)
            headers["X-Auth-Admin"] = "?0"
            #expect(try await roles.send(.POST, "/v2/roles", json: body, headers: headers).status == 403)
            #expect(try await roles.instance.store.load().version == 0)

            headers["X-Auth-Admin"] = "?1"
            headers["X-Auth-Principal"] = "%\"J%c3%bcrgen\""  // a Display String (RFC 9651): a principal that is not ASCII
            let created = try await roles.send(.POST, "/v2/roles", json: body, headers: headers)
            #expect(created.status == 201, "\(created.text)")
            let audit = try await roles.send(.GET, "/v2/audit-log", headers: headers)
            #expect(audit.text.contains("Jürgen"), "\(audit.text)")
        }
    }

    @Test func otherCallersCanBeAllowed() async throws {
        try await RolesHarness.run(.sqlite, extra: ["CAMUNDA_ROLES_ALLOWED_CALLERS": "authn, token-issuer"]) { roles in
            let issuer = try roles.pki.serviceClient("token-issuer")
            let reply = try await TestPKI.using(issuer) {
                try await roles.send(.POST, "/v1/resolve", json: "{}", headers: [:], client: issuer)
            }
            #expect(reply.status == 200)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func auditTrailAndAdminGrantWarnings(_ kind: TestDatabase) async throws {
        let logs = CapturedLogs()
        try await RolesHarness.run(kind, logs: logs) { roles in
            try await roles.createRule("ops-team", claimName: "groups", value: "ops")
            try await roles.createRole("platform-admins", name: "Platform Administrators")
            try await roles.assign("ops-team", to: "platform-admins")

            let reply = try await roles.send(.GET, "/v2/audit-log")
            #expect(reply.status == 200)
            let log = try reply.decode(SearchResponse<AuditLogEntry>.self)
            #expect(log.page.totalItems == 4)
            #expect(log.items.map(\.action) == ["admin.grant", "role.assign_mapping_rule", "role.create", "mapping_rule.create"])
            let grant = try #require(log.items.first)
            #expect(grant.principal == "alice")
            #expect(grant.caller == "authn")
            #expect(grant.authenticationMethod == "oidc")
            #expect(grant.credential == "jti=3f1c; kid=k-2025")
            #expect(grant.target == "role:platform-admins")
            #expect(grant.details == ["roleName": "Platform Administrators", "mappingRuleId": "ops-team"])
            #expect(grant.timestamp.hasSuffix("Z") && RFC3339Check.isTimestamp(grant.timestamp), "\(grant.timestamp)")
            let paged = try await roles.send(.GET, "/v2/audit-log?limit=2&before=\(grant.id)").decode(SearchResponse<AuditLogEntry>.self)
            #expect(paged.items.map(\.action) == ["role.assign_mapping_rule", "role.create"])
            #expect(try await roles.send(.GET, "/v2/audit-log?limit=0").problem?.field == "limit")
            #expect(try await roles.send(.GET, "/v2/audit-log?since=1").problem?.field == "since")
        }
        let warnings = logs.all.filter { $0.contains("\"level\":\"warning\"") && $0.contains("admin role granted") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("\"auth.principal\":\"alice\"") == true)
        #expect(warnings.first?.contains("platform-admins") == true)
    }

    @Test(arguments: TestDatabase.allCases)
    func bootstrapIsIdempotentAndAudited(_ kind: TestDatabase) async throws {
        let pki = try TestPKI.shared()
        let directory = NSTemporaryDirectory() + "certauth-roles-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try await kind.freshEnvironment(directory: directory)
        let seed = ["IDENTITY_INITIAL_CLAIM_NAME": "oid", "IDENTITY_INITIAL_CLAIM_VALUE": "aaa3a5e0-1479-477b-af0e-4747374b9ed6"]
        let firstLogs = CapturedLogs()
        try await RolesHarness.run(kind, database: database, pki: pki, extra: seed, logs: firstLogs) { roles in
            let answer = try await roles.resolve(ResolveRequest(claims: ["oid": .string("aaa3a5e0-1479-477b-af0e-4747374b9ed6")]))
            #expect(answer == ResolveResponse(roles: ["admin"], mappingRules: ["initial-admin"]))
        }
        #expect(firstLogs.all.contains { $0.contains("\"level\":\"warning\"") && $0.contains("admin role granted") && $0.contains("IDENTITY_INITIAL_CLAIM_VALUE") })

        let secondLogs = CapturedLogs()
        try await RolesHarness.run(kind, database: database, pki: pki, extra: seed, logs: secondLogs) { roles in
            let snapshot = try await roles.instance.store.load()
            #expect(snapshot.mappingRules.map(\.id) == ["initial-admin"])
            #expect(snapshot.roles.map(\.id) == ["admin"])
            #expect(snapshot.assignments == [RoleAssignment(roleID: "admin", mappingRuleID: "initial-admin")])
            let audit = try await roles.instance.store.auditLog(limit: 100, before: nil)
            #expect(audit.entries.map(\.action) == ["admin.grant", "role.assign_mapping_rule", "mapping_rule.create", "role.create"])
            #expect(audit.entries.allSatisfy { $0.actor.principal == "configuration" && $0.actor.caller == "roles" })
        }
        #expect(!secondLogs.all.contains { $0.contains("admin role granted") }, "a second start grants nothing")

        // The plain form with a new value moves the admin grant: the old value no longer resolves.
        try await RolesHarness.run(kind, database: database, pki: pki, extra: ["INITIAL_CLAIM_VALUE": "new-admin-oid"]) { roles in
            let newAdmin = try await roles.resolve(ResolveRequest(claims: ["oid": .string("new-admin-oid")]))
            #expect(newAdmin.roles == ["admin"])
            #expect(try await roles.resolve(ResolveRequest(claims: ["oid": .string("aaa3a5e0-1479-477b-af0e-4747374b9ed6")])).roles.isEmpty)
            #expect(try await roles.instance.store.load().mappingRules.count == 1)
        }
    }

    @Test func healthShowsStorage() async throws {
        try await RolesHarness.run(.sqlite) { roles in
            let port = await roles.instance.managementPort.port()
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/actuator/health"), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .ok)
            let health = try JSONDecoder().decode(HealthResponse.self, from: Data(body.readableBytesView))
            #expect(health.components["storage"]?.status == "UP")
            #expect(health.components["storage"]?.details?["backend"] == "sqlite")
        }
    }

    @Test func probesOnTheManagementPort() async throws {
        try await RolesHarness.run(.sqlite) { roles in
            let port = await roles.instance.managementPort.port()
            for (path, component) in [("liveness", "eventLoops"), ("readiness", "storage")] {
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/actuator/health/\(path)"), timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 1 << 20)
                #expect(response.status == .ok, "\(path)")
                let health = try JSONDecoder().decode(HealthResponse.self, from: Data(body.readableBytesView))
                #expect(health.status == "UP", "\(path)")
                #expect(health.components[component]?.status == "UP", "\(path): \(health.components)")
            }
        }
    }

    @Test func twoReplicasOnOnePostgresSeeEachOthersWrites() async throws {
        let pki = try TestPKI.shared()
        let database = try await TestDatabase.postgresql.freshEnvironment(directory: NSTemporaryDirectory())
        try await RolesHarness.run(.postgresql, database: database, pki: pki) { first in
            try await RolesHarness.run(.postgresql, database: database, pki: pki) { second in
                try await first.createRole("reader")
                for round in 0..<3 {
                    let id = "replicated-\(round)"
                    let writer = round % 2 == 0 ? first : second
                    let reader = round % 2 == 0 ? second : first
                    try await writer.createRule(id, value: "user-\(round)")
                    try await writer.assign(id, to: "reader")
                    // Replicas poll the change counter every 250 ms, so this normally takes well under a second; the
                    // deadline is generous because a timed assertion on this shared, loaded machine would only measure
                    // the machine (the delay is printed).
                    let start = ContinuousClock.now
                    var seen = false
                    while ContinuousClock.now - start < .seconds(15) {
                        if try await reader.resolve(ResolveRequest(claims: ["oid": .string("user-\(round)")])).roles == ["reader"] {
                            seen = true
                            break
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(seen, "replica did not see \(id) within 15 s")
                    print("replica saw \(id) after \(ContinuousClock.now - start)")
                    #expect(try await reader.send(.GET, "/v2/mapping-rules/\(id)").status == 200)
                }
            }
        }
    }
}

enum RFC3339Check {
    static func isTimestamp(_ text: String) -> Bool {
        (try? Date(text, strategy: .iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true)
            .timeSeparator(.colon).timeZone(separator: .omitted))) != nil
    }
}
