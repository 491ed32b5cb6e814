import AuthProtocol
import Foundation
import Tracing

/// The roles store over either backend. Every mutation is one plan: bump the change counter first (in PostgreSQL
/// that row lock serialises all writers across replicas, so the checks below see the latest committed state),
/// check, write, audit, read the new counter.
struct SQLRolesStore<Backend: SQLBackend>: RolesStore {
    let backend: Backend

    func load() async throws -> RolesSnapshot {
        let results = try await traced("load") { try await backend.read([
            SQLStep("SELECT version FROM roles_change_counter WHERE id = 1", key: "version"),
            SQLStep("SELECT id, name, kind, claim_name, claim_value, issuer_spki_sha256 FROM mapping_rules ORDER BY id", key: "rules"),
            SQLStep("SELECT id, name, description FROM roles ORDER BY id", key: "roles"),
            SQLStep("SELECT role_id, mapping_rule_id FROM role_mapping_rules ORDER BY role_id, mapping_rule_id", key: "assignments"),
        ]) }
        guard results.count == 4 else { throw StorageError(.unavailable, "incomplete read of the roles tables") }
        var rules: [MappingRuleRecord] = []
        rules.reserveCapacity(results[1].count)
        for row in results[1] {
            guard let kind = MappingRuleKind(rawValue: row.text(2)) else {
                throw StorageError(.incompatibleSchema, "mapping rule '\(row.text(0))' has the unknown kind '\(row.text(2))'; it was written by a newer version.")
            }
            rules.append(MappingRuleRecord(
                id: row.text(0), name: row.text(1), kind: kind, claimName: row.text(3), claimValue: row.text(4), issuerSPKISHA256: row.text(5)))
        }
        return RolesSnapshot(
            version: results[0].first?.int(0) ?? 0,
            mappingRules: rules,
            roles: results[2].map { RoleRecord(id: $0.text(0), name: $0.text(1), description: $0.text(2)) },
            assignments: results[3].map { RoleAssignment(roleID: $0.text(0), mappingRuleID: $0.text(1)) })
    }

    func version() async throws -> Int64 {
        let results = try await traced("version", onlyWithinTrace: true) {  // polled in the background: in requests only
            try await backend.read([SQLStep("SELECT version FROM roles_change_counter WHERE id = 1", key: "version")])
        }
        return results.first?.first?.int(0) ?? 0
    }

    func apply(_ mutation: RolesMutation, by actor: AuditActor, at time: Date) async throws -> MutationResult {
        let plan = RolesPlans.plan(mutation, actor: actor, at: time)
        let result = try await traced("apply") { try await backend.write(plan) }
        let grants = (result["admin_grants"] ?? []).map {
            AdminGrant(roleID: $0.text(0), roleName: $0.text(1), mappingRuleID: $0.text(2))
        }
        return MutationResult(version: result["version"]?.first?.int(0) ?? 0, adminGrants: grants)
    }

    /// Runs `body` in a client span `roles-store <operation>` (swift-distributed-tracing's API: a no-op until a service
    /// installs a tracer, which it does only when traces are exported). `onlyWithinTrace`: no span outside a request's
    /// trace, for the version poll that would otherwise be a trace of its own every few hundred milliseconds.
    private func traced<T>(_ operation: String, onlyWithinTrace: Bool = false, _ body: () async throws -> T) async throws -> T {
        if onlyWithinTrace, InstrumentationContext.current == nil { return try await body() }
        return try await withSpan("roles-store \(operation)", ofKind: .client) { span in
            span.attributes["db.system.name"] = Backend.systemName
            span.attributes["db.operation.name"] = operation
            do {
                return try await body()
            } catch {
                // The error's type only (as ServiceTracing.recordFailure): its text could carry a caller's input.
                span.attributes["error.type"] = String(describing: type(of: error))
                span.setStatus(SpanStatus(code: .error))
                throw error
            }
        }
    }

    func auditLog(limit: Int, before: Int64?) async throws -> AuditPage {
        let columns = "id, at, caller, principal, method, credential, action, target, details"
        let page: SQLStep
        if let before {
            page = SQLStep("SELECT \(columns) FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
                           [.int(before), .int(Int64(limit))], key: "page")
        } else {
            page = SQLStep("SELECT \(columns) FROM audit_log ORDER BY id DESC LIMIT ?", [.int(Int64(limit))], key: "page")
        }
        let results = try await traced("audit_log") { try await backend.read([page, SQLStep("SELECT COUNT(*) FROM audit_log", key: "count")]) }
        let entries = (results.first ?? []).map { row in
            AuditEntry(
                id: row.int(0), timestamp: Date(storageMilliseconds: row.int(1)),
                actor: AuditActor(caller: row.text(2), principal: row.text(3), method: row.text(4), credential: row.text(5)),
                action: row.text(6), target: row.text(7), details: RolesPlans.decodeDetails(row.text(8)))
        }
        return AuditPage(entries: entries, total: Int(results.last?.first?.int(0) ?? 0))
    }
}

/// The SQL of each mutation, shared by both backends.
enum RolesPlans {
    static func plan(_ mutation: RolesMutation, actor: AuditActor, at time: Date) -> SQLPlan {
        let now = SQLValue.int(time.storageMilliseconds)
        let bump = SQLStep("UPDATE roles_change_counter SET version = version + 1 WHERE id = 1")
        let readVersion = SQLStep("SELECT version FROM roles_change_counter WHERE id = 1", key: "version")
        @Sendable func audit(_ action: String, _ target: String, _ details: [String: String]) -> SQLStep {
            auditStep(actor: actor, now: now, action: action, target: target, details: details)
        }

        switch mutation {
        case .createMappingRule(let rule):
            let conflict = StorageError(.conflict, "A mapping rule with mappingRuleId '\(rule.id)' already exists.", field: "mappingRuleId")
            return SQLPlan([
                bump,
                .require("SELECT 1 FROM mapping_rules WHERE id = ?", [.text(rule.id)], exists: false, otherwise: conflict),
                SQLStep(
                    "INSERT INTO mapping_rules (id, name, kind, claim_name, claim_value, issuer_spki_sha256, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [.text(rule.id), .text(rule.name), .text(rule.kind.rawValue), .text(rule.claimName), .text(rule.claimValue),
                     .text(rule.issuerSPKISHA256), now, now]),
                audit("mapping_rule.create", "mapping_rule:\(rule.id)", details(rule)),
                readVersion,
            ], onUniqueViolation: conflict)

        case .updateMappingRule(let rule):
            let missing = mappingRuleNotFound(rule.id)
            return SQLPlan([
                bump,
                SQLStep("SELECT kind, claim_name, claim_value, issuer_spki_sha256 FROM mapping_rules WHERE id = ?", [.text(rule.id)]) { rows in
                    guard let old = rows.first else { throw missing }
                    let criteriaChanged = old.text(0) != rule.kind.rawValue || old.text(1) != rule.claimName || old.text(2) != rule.claimValue
                        || old.text(3) != rule.issuerSPKISHA256
                    var steps = [
                        SQLStep(
                            "UPDATE mapping_rules SET name = ?, kind = ?, claim_name = ?, claim_value = ?, issuer_spki_sha256 = ?, updated_at = ? WHERE id = ?",
                            [.text(rule.name), .text(rule.kind.rawValue), .text(rule.claimName), .text(rule.claimValue),
                             .text(rule.issuerSPKISHA256), now, .text(rule.id)]),
                        audit("mapping_rule.update", "mapping_rule:\(rule.id)", details(rule)),
                    ]
                    if criteriaChanged {
                        // Whoever matches the new criteria now gets the rule's roles: admin roles among them are grants.
                        steps.append(adminGrants(
                            "SELECT r.id, r.name FROM role_mapping_rules a JOIN roles r ON r.id = a.role_id WHERE a.mapping_rule_id = ? ORDER BY r.id",
                            [.text(rule.id)], mappingRuleID: { _ in rule.id }, actor: actor, now: now))
                    }
                    return steps
                },
                readVersion,
            ])

        case .deleteMappingRule(let id):
            return SQLPlan([
                bump,
                .require("SELECT 1 FROM mapping_rules WHERE id = ?", [.text(id)], exists: true, otherwise: mappingRuleNotFound(id)),
                SQLStep("DELETE FROM role_mapping_rules WHERE mapping_rule_id = ?", [.text(id)]),
                SQLStep("DELETE FROM mapping_rules WHERE id = ?", [.text(id)]),
                audit("mapping_rule.delete", "mapping_rule:\(id)", [:]),
                readVersion,
            ])

        case .createRole(let role):
            let conflict = StorageError(.conflict, "A role with roleId '\(role.id)' already exists.", field: "roleId")
            return SQLPlan([
                bump,
                .require("SELECT 1 FROM roles WHERE id = ?", [.text(role.id)], exists: false, otherwise: conflict),
                SQLStep("INSERT INTO roles (id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                        [.text(role.id), .text(role.name), .text(role.description), now, now]),
                audit("role.create", "role:\(role.id)", ["name": role.name, "description": role.description]),
                readVersion,
            ], onUniqueViolation: conflict)

        case .updateRole(let role):
            let missing = roleNotFound(role.id)
            return SQLPlan([
                bump,
                SQLStep("SELECT id, name, description FROM roles WHERE id = ?", [.text(role.id)]) { rows in
                    guard let old = rows.first else { throw missing }
                    var steps = [
                        SQLStep("UPDATE roles SET name = ?, description = ?, updated_at = ? WHERE id = ?",
                                [.text(role.name), .text(role.description), now, .text(role.id)]),
                        audit("role.update", "role:\(role.id)", ["name": role.name, "description": role.description]),
                    ]
                    let wasAdmin = RoleRecord(id: old.text(0), name: old.text(1), description: old.text(2)).grantsAdmin
                    if !wasAdmin && role.grantsAdmin {
                        // Renamed into an admin role: everyone its rules match gains admin.
                        steps.append(adminGrants(
                            "SELECT r.id, r.name, a.mapping_rule_id FROM role_mapping_rules a JOIN roles r ON r.id = a.role_id WHERE a.role_id = ? ORDER BY a.mapping_rule_id",
                            [.text(role.id)], mappingRuleID: { $0.text(2) }, actor: actor, now: now))
                    }
                    return steps
                },
                readVersion,
            ])

        case .deleteRole(let id):
            return SQLPlan([
                bump,
                .require("SELECT 1 FROM roles WHERE id = ?", [.text(id)], exists: true, otherwise: roleNotFound(id)),
                SQLStep("DELETE FROM role_mapping_rules WHERE role_id = ?", [.text(id)]),
                SQLStep("DELETE FROM roles WHERE id = ?", [.text(id)]),
                audit("role.delete", "role:\(id)", [:]),
                readVersion,
            ])

        case .assign(let roleID, let ruleID):
            let conflict = StorageError(
                .conflict, "The mapping rule '\(ruleID)' is already assigned to the role '\(roleID)'.", field: "mappingRuleId")
            return SQLPlan([
                bump,
                .require("SELECT 1 FROM roles WHERE id = ?", [.text(roleID)], exists: true, otherwise: roleNotFound(roleID)),
                .require("SELECT 1 FROM mapping_rules WHERE id = ?", [.text(ruleID)], exists: true, otherwise: mappingRuleNotFound(ruleID)),
                .require("SELECT 1 FROM role_mapping_rules WHERE role_id = ? AND mapping_rule_id = ?",
                         [.text(roleID), .text(ruleID)], exists: false, otherwise: conflict),
                SQLStep("INSERT INTO role_mapping_rules (role_id, mapping_rule_id, created_at) VALUES (?, ?, ?)",
                        [.text(roleID), .text(ruleID), now]),
                audit("role.assign_mapping_rule", "role:\(roleID)", ["mappingRuleId": ruleID]),
                adminGrants("SELECT id, name FROM roles WHERE id = ?", [.text(roleID)],
                            mappingRuleID: { _ in ruleID }, actor: actor, now: now),
                readVersion,
            ], onUniqueViolation: conflict, onForeignKeyViolation: mappingRuleNotFound(ruleID))

        case .unassign(let roleID, let ruleID):
            return SQLPlan([
                bump,
                .require("SELECT 1 FROM roles WHERE id = ?", [.text(roleID)], exists: true, otherwise: roleNotFound(roleID)),
                .require("SELECT 1 FROM mapping_rules WHERE id = ?", [.text(ruleID)], exists: true, otherwise: mappingRuleNotFound(ruleID)),
                .require("SELECT 1 FROM role_mapping_rules WHERE role_id = ? AND mapping_rule_id = ?",
                         [.text(roleID), .text(ruleID)], exists: true,
                         otherwise: StorageError(.notFound, "The mapping rule '\(ruleID)' is not assigned to the role '\(roleID)'.", field: "mappingRuleId")),
                SQLStep("DELETE FROM role_mapping_rules WHERE role_id = ? AND mapping_rule_id = ?", [.text(roleID), .text(ruleID)]),
                audit("role.unassign_mapping_rule", "role:\(roleID)", ["mappingRuleId": ruleID]),
                readVersion,
            ])
        }
    }

    /// Runs `sql` (rows start with role id and name), and for each admin role among them writes an `admin.grant`
    /// audit entry and reports the grant.
    private static func adminGrants(
        _ sql: String, _ arguments: [SQLValue], mappingRuleID: @escaping @Sendable (SQLRow) -> String,
        actor: AuditActor, now: SQLValue
    ) -> SQLStep {
        SQLStep(sql, arguments) { rows in
            var steps: [SQLStep] = []
            for row in rows {
                let role = RoleRecord(id: row.text(0), name: row.text(1), description: "")
                guard role.grantsAdmin else { continue }
                let ruleID = mappingRuleID(row)
                steps.append(auditStep(
                    actor: actor, now: now, action: "admin.grant", target: "role:\(role.id)",
                    details: ["roleName": role.name, "mappingRuleId": ruleID]))
                steps.append(.emit("admin_grants", [.text(role.id), .text(role.name), .text(ruleID)]))
            }
            return steps
        }
    }

    private static func auditStep(
        actor: AuditActor, now: SQLValue, action: String, target: String, details: [String: String]
    ) -> SQLStep {
        SQLStep(
            "INSERT INTO audit_log (at, caller, principal, method, credential, action, target, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [now, .text(actor.caller), .text(actor.principal), .text(actor.method), .text(actor.credential),
             .text(action), .text(target), .text(encodeDetails(details))])
    }

    private static func details(_ rule: MappingRuleRecord) -> [String: String] {
        var details = ["name": rule.name, "kind": rule.kind.rawValue, "claimName": rule.claimName, "claimValue": rule.claimValue]
        if !rule.issuerSPKISHA256.isEmpty { details["issuerSpkiSha256"] = rule.issuerSPKISHA256 }
        return details
    }

    private static func mappingRuleNotFound(_ id: String) -> StorageError {
        StorageError(.notFound, "No mapping rule with mappingRuleId '\(id)' exists.", field: "mappingRuleId")
    }

    private static func roleNotFound(_ id: String) -> StorageError {
        StorageError(.notFound, "No role with roleId '\(id)' exists.", field: "roleId")
    }

    static func encodeDetails(_ details: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(details) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeDetails(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? ["raw": text]
    }
}
