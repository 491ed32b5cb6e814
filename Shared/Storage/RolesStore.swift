import AuthProtocol
import Foundation
import Logging
import ServiceLifecycle

/// A mapping rule as stored.
public struct MappingRuleRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var kind: MappingRuleKind
    /// Empty for the subject kinds.
    public var claimName: String
    public var claimValue: String
    /// Certificate rules: the pinned issuing CA's SubjectPublicKeyInfo SHA-256 (lower-case hex); empty: not pinned.
    public var issuerSPKISHA256: String

    public init(id: String, name: String, kind: MappingRuleKind, claimName: String, claimValue: String, issuerSPKISHA256: String = "") {
        self.id = id
        self.name = name
        self.kind = kind
        self.claimName = claimName
        self.claimValue = claimValue
        self.issuerSPKISHA256 = issuerSPKISHA256
    }
}

/// A role as stored.
public struct RoleRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String

    public init(id: String, name: String, description: String) {
        self.id = id
        self.name = name
        self.description = description
    }

    /// Whether granting this role is an admin grant (id or name contains ADMIN, any case): audited and logged
    /// as a security warning.
    public var grantsAdmin: Bool {
        id.uppercased().contains("ADMIN") || name.uppercased().contains("ADMIN")
    }
}

/// A mapping rule assigned to a role: whoever matches the rule gets the role.
public struct RoleAssignment: Sendable, Hashable {
    public var roleID: String
    public var mappingRuleID: String

    public init(roleID: String, mappingRuleID: String) {
        self.roleID = roleID
        self.mappingRuleID = mappingRuleID
    }
}

/// Everything the roles service holds, read in one consistent snapshot.
public struct RolesSnapshot: Sendable, Equatable {
    /// The change counter at the time of the snapshot; every committed change adds one.
    public var version: Int64
    public var mappingRules: [MappingRuleRecord]
    public var roles: [RoleRecord]
    public var assignments: [RoleAssignment]

    public init(version: Int64, mappingRules: [MappingRuleRecord], roles: [RoleRecord], assignments: [RoleAssignment]) {
        self.version = version
        self.mappingRules = mappingRules
        self.roles = roles
        self.assignments = assignments
    }
}

/// Who makes a change, for the audit trail.
public struct AuditActor: Sendable, Equatable {
    /// The calling service's certificate identity (e.g. `authn`), or `roles` for configuration.
    public var caller: String
    /// `X-Auth-Principal`.
    public var principal: String
    /// `X-Auth-Method`.
    public var method: String
    /// `X-Auth-Credential` (a thumbprint or a jti/kid pair; never a secret).
    public var credential: String

    public init(caller: String, principal: String, method: String, credential: String) {
        self.caller = caller
        self.principal = principal
        self.method = method
        self.credential = credential
    }
}

/// One row of the audit trail.
public struct AuditEntry: Sendable, Equatable {
    public var id: Int64
    public var timestamp: Date
    public var actor: AuditActor
    public var action: String
    public var target: String
    /// The values written.
    public var details: [String: String]

    public init(id: Int64, timestamp: Date, actor: AuditActor, action: String, target: String, details: [String: String]) {
        self.id = id
        self.timestamp = timestamp
        self.actor = actor
        self.action = action
        self.target = target
        self.details = details
    }
}

/// One page of the audit trail, newest first.
public struct AuditPage: Sendable, Equatable {
    public var entries: [AuditEntry]
    /// All entries in the trail.
    public var total: Int

    public init(entries: [AuditEntry], total: Int) {
        self.entries = entries
        self.total = total
    }
}

/// A role given to whoever matches a mapping rule, where the role is an admin role.
public struct AdminGrant: Sendable, Equatable {
    public var roleID: String
    public var roleName: String
    public var mappingRuleID: String

    public init(roleID: String, roleName: String, mappingRuleID: String) {
        self.roleID = roleID
        self.roleName = roleName
        self.mappingRuleID = mappingRuleID
    }
}

/// A change to the roles state. Each is one transaction with its audit entries and the change counter.
public enum RolesMutation: Sendable, Equatable {
    case createMappingRule(MappingRuleRecord)
    case updateMappingRule(MappingRuleRecord)
    case deleteMappingRule(id: String)
    case createRole(RoleRecord)
    case updateRole(RoleRecord)
    case deleteRole(id: String)
    case assign(roleID: String, mappingRuleID: String)
    case unassign(roleID: String, mappingRuleID: String)
}

/// What a committed mutation did.
public struct MutationResult: Sendable, Equatable {
    /// The change counter after the mutation.
    public var version: Int64
    /// Admin roles newly given through the change (already written to the audit trail).
    public var adminGrants: [AdminGrant]

    public init(version: Int64, adminGrants: [AdminGrant]) {
        self.version = version
        self.adminGrants = adminGrants
    }
}

/// The durable state of the roles service: mapping rules, roles, assignments and the audit trail.
public protocol RolesStore: Sendable {
    /// Everything, in one consistent snapshot.
    func load() async throws -> RolesSnapshot
    /// The change counter (cheap; replicas poll it to see each other's writes).
    func version() async throws -> Int64
    /// Applies the mutation with its audit entries in one transaction; durable when this returns.
    /// - Throws: ``StorageError`` `.notFound` / `.conflict` naming the field at fault, or `.unavailable`.
    func apply(_ mutation: RolesMutation, by actor: AuditActor, at time: Date) async throws -> MutationResult
    /// A page of the audit trail, newest first; `before` is an entry id to page back from.
    func auditLog(limit: Int, before: Int64?) async throws -> AuditPage
}

/// Opens roles stores.
public enum RolesStores {
    /// Opens (and migrates) the roles tables in the configured database (errors name `urlSetting`, the variable the service read its URL from); `services` must run in the
    /// ServiceGroup (the PostgresClient's run loop) before the store is used.
    public static func open(
        _ settings: DatabaseSettings, urlSetting: String, logger: Logger
    ) async throws -> (store: any RolesStore, services: [any Service]) {
        switch settings {
        case .sqlite(let path):
            let backend = try SQLiteBackend.open(path: path, setting: urlSetting, migrations: Migrations.roles, logger: logger)
            return (SQLRolesStore(backend: backend), [])
        case .postgresql(let url):
            let (backend, client) = try await PostgresBackend.open(url: url, setting: urlSetting, migrations: Migrations.roles, logger: logger)
            return (SQLRolesStore(backend: backend), [client])
        }
    }
}
