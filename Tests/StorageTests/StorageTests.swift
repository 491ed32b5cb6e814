import AuthProtocol
import Foundation
import Logging
import Settings
import Storage
import Testing
import TestSupport

/// The Storage library on both backends: the same tests, SQLite and a real PostgreSQL server.
@Suite struct StorageTests {
    static let logger = Logger(label: "storage-test")
    static let admin = AuditActor(caller: "authn", principal: "alice", method: "oidc", credential: "jti=j1; kid=k1")

    /// The variables roles and authn read the database from (their configuration types own the names).
    static let names = DatabaseSettings.SettingNames(type: "CAMUNDA_DATABASE_TYPE", url: "CAMUNDA_DATABASE_URL")

    /// The settings as roles' configuration reads them from `environment`.
    static func databaseSettings(_ environment: EnvironmentReader, defaultSQLitePath: String) throws(ConfigurationError) -> DatabaseSettings {
        try DatabaseSettings.checked(
            backend: environment.choice(names.type, default: "sqlite", allowed: DatabaseSettings.backendNames),
            url: environment.secret(names.url), defaultSQLitePath: defaultSQLitePath, names: names)
    }

    /// Opens a fresh database of `kind` and runs `body` with the roles store while its services run.
    static func withRolesStore(
        _ kind: TestDatabase, _ body: @Sendable (any RolesStore, DatabaseSettings) async throws -> Void
    ) async throws {
        let directory = NSTemporaryDirectory() + "certauth-storage-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = try Self.databaseSettings(
            EnvironmentReader(try await kind.freshEnvironment(directory: directory)), defaultSQLitePath: "unused")
        let (store, services) = try await RolesStores.open(settings, urlSetting: Self.names.url, logger: logger)
        try await withServices(services, logger: logger) { try await body(store, settings) }
    }

    static func rule(_ id: String, _ value: String = "v", kind: MappingRuleKind = .claim) -> MappingRuleRecord {
        MappingRuleRecord(id: id, name: "rule \(id)", kind: kind, claimName: kind == .claim ? "oid" : "", claimValue: value)
    }

    @Test(arguments: TestDatabase.allCases)
    func mutationsAreStoredCountedAndAudited(_ kind: TestDatabase) async throws {
        try await Self.withRolesStore(kind) { store, _ in
            #expect(try await store.version() == 0)
            let now = Date(timeIntervalSince1970: 1_750_000_000.123)
            var result = try await store.apply(.createMappingRule(Self.rule("r1", "one")), by: Self.admin, at: now)
            #expect(result.version == 1)
            result = try await store.apply(.createRole(RoleRecord(id: "reader", name: "Reader", description: "reads")), by: Self.admin, at: now)
            #expect(result.version == 2)
            result = try await store.apply(.assign(roleID: "reader", mappingRuleID: "r1"), by: Self.admin, at: now)
            #expect(result == MutationResult(version: 3, adminGrants: []))
            result = try await store.apply(.updateMappingRule(Self.rule("r1", "uno")), by: Self.admin, at: now)
            #expect(result.version == 4)

            let snapshot = try await store.load()
            #expect(snapshot.version == 4)
            #expect(snapshot.mappingRules == [Self.rule("r1", "uno")])
            #expect(snapshot.roles == [RoleRecord(id: "reader", name: "Reader", description: "reads")])
            #expect(snapshot.assignments == [RoleAssignment(roleID: "reader", mappingRuleID: "r1")])

            let audit = try await store.auditLog(limit: 10, before: nil)
            #expect(audit.total == 4)
            #expect(audit.entries.map(\.action) == ["mapping_rule.update", "role.assign_mapping_rule", "role.create", "mapping_rule.create"])
            let first = try #require(audit.entries.last)
            #expect(first.actor == Self.admin)
            #expect(first.target == "mapping_rule:r1")
            #expect(first.details == ["name": "rule r1", "kind": "claim", "claimName": "oid", "claimValue": "one"])
            #expect(abs(first.timestamp.timeIntervalSince(now)) < 0.002)
            let older = try await store.auditLog(limit: 2, before: audit.entries[1].id)
            #expect(older.entries.map(\.action) == ["role.create", "mapping_rule.create"])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func conflictsAndMissingThingsAreRefusedAndChangeNothing(_ kind: TestDatabase) async throws {
        try await Self.withRolesStore(kind) { store, _ in
            let now = Date()
            _ = try await store.apply(.createMappingRule(Self.rule("r1")), by: Self.admin, at: now)
            _ = try await store.apply(.createRole(RoleRecord(id: "reader", name: "Reader", description: "")), by: Self.admin, at: now)
            _ = try await store.apply(.assign(roleID: "reader", mappingRuleID: "r1"), by: Self.admin, at: now)
            let cases: [(RolesMutation, StorageError.Code, String)] = [
                (.createMappingRule(Self.rule("r1")), .conflict, "mappingRuleId"),
                (.createRole(RoleRecord(id: "reader", name: "x", description: "")), .conflict, "roleId"),
                (.assign(roleID: "reader", mappingRuleID: "r1"), .conflict, "mappingRuleId"),
                (.updateMappingRule(Self.rule("nope")), .notFound, "mappingRuleId"),
                (.deleteMappingRule(id: "nope"), .notFound, "mappingRuleId"),
                (.updateRole(RoleRecord(id: "nope", name: "x", description: "")), .notFound, "roleId"),
                (.deleteRole(id: "nope"), .notFound, "roleId"),
                (.assign(roleID: "nope", mappingRuleID: "r1"), .notFound, "roleId"),
                (.assign(roleID: "reader", mappingRuleID: "nope"), .notFound, "mappingRuleId"),
                (.unassign(roleID: "reader", mappingRuleID: "nope"), .notFound, "mappingRuleId"),
            ]
            for (mutation, code, field) in cases {
                do {
                    _ = try await store.apply(mutation, by: Self.admin, at: now)
                    Issue.record("\(mutation) was accepted")
                } catch let error as StorageError {
                    #expect(error.code == code, "\(mutation)")
                    #expect(error.field == field, "\(mutation)")
                }
            }
            // Refused mutations roll back completely: counter and audit trail unchanged.
            #expect(try await store.version() == 3)
            #expect(try await store.auditLog(limit: 100, before: nil).total == 3)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func deletesCascadeToAssignments(_ kind: TestDatabase) async throws {
        try await Self.withRolesStore(kind) { store, _ in
            let now = Date()
            for id in ["r1", "r2"] { _ = try await store.apply(.createMappingRule(Self.rule(id)), by: Self.admin, at: now) }
            for id in ["a", "b"] { _ = try await store.apply(.createRole(RoleRecord(id: id, name: id, description: "")), by: Self.admin, at: now) }
            for (role, rule) in [("a", "r1"), ("a", "r2"), ("b", "r1")] {
                _ = try await store.apply(.assign(roleID: role, mappingRuleID: rule), by: Self.admin, at: now)
            }
            _ = try await store.apply(.deleteMappingRule(id: "r1"), by: Self.admin, at: now)
            #expect(try await store.load().assignments == [RoleAssignment(roleID: "a", mappingRuleID: "r2")])
            _ = try await store.apply(.deleteRole(id: "a"), by: Self.admin, at: now)
            let snapshot = try await store.load()
            #expect(snapshot.assignments.isEmpty)
            #expect(snapshot.roles.map(\.id) == ["b"])
            #expect(snapshot.mappingRules.map(\.id) == ["r2"])
            // r2 was never assigned to b: unassigning it is refused.
            await #expect(throws: StorageError.self) {
                _ = try await store.apply(.unassign(roleID: "b", mappingRuleID: "r2"), by: Self.admin, at: now)
            }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func adminGrantsAreAudited(_ kind: TestDatabase) async throws {
        try await Self.withRolesStore(kind) { store, _ in
            let now = Date()
            _ = try await store.apply(.createMappingRule(Self.rule("r1", "old")), by: Self.admin, at: now)
            _ = try await store.apply(.createRole(RoleRecord(id: "ops", name: "Operations", description: "")), by: Self.admin, at: now)
            _ = try await store.apply(.createRole(RoleRecord(id: "super", name: "Super Admin", description: "")), by: Self.admin, at: now)
            let plain = try await store.apply(.assign(roleID: "ops", mappingRuleID: "r1"), by: Self.admin, at: now)
            #expect(plain.adminGrants.isEmpty)
            let grant = try await store.apply(.assign(roleID: "super", mappingRuleID: "r1"), by: Self.admin, at: now)
            #expect(grant.adminGrants == [AdminGrant(roleID: "super", roleName: "Super Admin", mappingRuleID: "r1")])
            // Changing who a rule matches re-grants its admin role; renaming it does not.
            let renamed = try await store.apply(.updateMappingRule(MappingRuleRecord(
                id: "r1", name: "renamed", kind: .claim, claimName: "oid", claimValue: "old")), by: Self.admin, at: now)
            #expect(renamed.adminGrants.isEmpty)
            let retargeted = try await store.apply(.updateMappingRule(Self.rule("r1", "new")), by: Self.admin, at: now)
            #expect(retargeted.adminGrants.map(\.roleID) == ["super"])
            // Renaming a role into an admin role grants admin to whoever its rules match.
            let promoted = try await store.apply(.updateRole(RoleRecord(id: "ops", name: "Ops ADMIN", description: "")), by: Self.admin, at: now)
            #expect(promoted.adminGrants == [AdminGrant(roleID: "ops", roleName: "Ops ADMIN", mappingRuleID: "r1")])

            let grants = try await store.auditLog(limit: 100, before: nil).entries.filter { $0.action == "admin.grant" }
            #expect(grants.count == 3)
            #expect(grants.allSatisfy { $0.actor == Self.admin })
            #expect(grants.last?.details == ["roleName": "Super Admin", "mappingRuleId": "r1"])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func reopeningKeepsDataAndMigratesOnce(_ kind: TestDatabase) async throws {
        let directory = NSTemporaryDirectory() + "certauth-storage-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = try Self.databaseSettings(
            EnvironmentReader(try await kind.freshEnvironment(directory: directory)), defaultSQLitePath: "unused")
        let first = try await RolesStores.open(settings, urlSetting: Self.names.url, logger: Self.logger)
        try await withServices(first.services, logger: Self.logger) {
            _ = try await first.store.apply(.createMappingRule(Self.rule("kept")), by: Self.admin, at: Date())
        }
        // Two openers at once (replicas starting together), then a third: the schema is applied exactly once.
        async let second = RolesStores.open(settings, urlSetting: Self.names.url, logger: Self.logger)
        async let third = RolesStores.open(settings, urlSetting: Self.names.url, logger: Self.logger)
        let opened = try await [second, third]
        let sessions = try await SessionStores.open(settings, urlSetting: Self.names.url, logger: Self.logger)
        try await withServices(opened.flatMap(\.services) + sessions.services, logger: Self.logger) {
            for store in opened.map(\.store) {
                let snapshot = try await store.load()
                #expect(snapshot.mappingRules.map(\.id) == ["kept"])
            }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func sessionStore(_ kind: TestDatabase) async throws {
        let directory = NSTemporaryDirectory() + "certauth-storage-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = try Self.databaseSettings(
            EnvironmentReader(try await kind.freshEnvironment(directory: directory)), defaultSQLitePath: "unused")
        let (store, services) = try await SessionStores.open(settings, urlSetting: Self.names.url, logger: Self.logger)
        try await withServices(services, logger: Self.logger) {
            let now = Date(timeIntervalSince1970: 1_750_000_000)
            let live = StoredSession(id: "hash-live", payload: Array("principal=alice".utf8) + [0, 255],
                                     expiresAt: now.addingTimeInterval(3600), createdAt: now)
            let stale = StoredSession(id: "hash-stale", payload: [1, 2, 3], expiresAt: now.addingTimeInterval(-1), createdAt: now.addingTimeInterval(-100))
            try await store.save(live)
            try await store.save(stale)
            #expect(try await store.load(id: "hash-live", now: now) == live)
            #expect(try await store.load(id: "hash-stale", now: now) == nil, "expired sessions are not returned")
            #expect(try await store.load(id: "absent", now: now) == nil)

            var renewed = live
            renewed.payload = [9]
            renewed.expiresAt = now.addingTimeInterval(7200)
            try await store.save(renewed)
            #expect(try await store.load(id: "hash-live", now: now) == renewed)

            #expect(try await store.purgeExpired(now: now) == 1)
            #expect(try await store.purgeExpired(now: now) == 0)
            #expect(try await store.load(id: "hash-live", now: now.addingTimeInterval(7200)) == nil)
            try await store.delete(id: "hash-live")
            try await store.delete(id: "hash-live")
            #expect(try await store.load(id: "hash-live", now: now) == nil)
        }
    }

    @Test func sqliteFileIsCreatedWithItsDirectoryInWALMode() async throws {
        let directory = NSTemporaryDirectory() + "certauth-storage-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/nested/data/roles.sqlite"
        let (store, _) = try await RolesStores.open(.sqlite(path: path), urlSetting: Self.names.url, logger: Self.logger)
        _ = try await store.apply(.createMappingRule(Self.rule("r1")), by: Self.admin, at: Date())
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: path + "-wal"), "WAL journal in use")
    }

    @Test func databaseSettingsFromTheEnvironment() throws {
        #expect(try Self.databaseSettings(EnvironmentReader([:]), defaultSQLitePath: "data/roles.sqlite") == .sqlite(path: "data/roles.sqlite"))
        #expect(try Self.databaseSettings(EnvironmentReader(["CAMUNDA_DATABASE_URL": "/var/lib/roles.db"]), defaultSQLitePath: "x")
            == .sqlite(path: "/var/lib/roles.db"))
        let url = "postgres://roles:s3cret-pw@db.internal:5433/roles?sslmode=require"
        let settings = try Self.databaseSettings(
            EnvironmentReader(["CAMUNDA_DATABASE_TYPE": "PostgreSQL", "CAMUNDA_DATABASE_URL": url]), defaultSQLitePath: "x")
        #expect(settings == .postgresql(url: url))
        #expect(settings.redactedDescription == "postgres://roles:***@db.internal:5433/roles?sslmode=require")
    }

    @Test(arguments: [
        (["CAMUNDA_DATABASE_TYPE": "mysql"], "CAMUNDA_DATABASE_TYPE: 'mysql' is not supported"),
        (["CAMUNDA_DATABASE_TYPE": "postgresql"], "CAMUNDA_DATABASE_URL: is not set but CAMUNDA_DATABASE_TYPE=postgresql needs it"),
        (["CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": "mysql://u:s3cret-pw@h/db"], "is not a postgres:// URL"),
        (["CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": "postgres://u:s3cret-pw@h"], "names no database"),
        (["CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": "postgres://h/db"], "names no user"),
        (["CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": "postgres://u:s3cret-pw@h/db?sslmode=maybe"], "sslmode 'maybe'"),
        (["CAMUNDA_DATABASE_URL": "postgres://u:s3cret-pw@h/db"], "set CAMUNDA_DATABASE_TYPE=postgresql"),
    ])
    func malformedDatabaseSettingsNameTheVariableAndHideThePassword(_ environment: [String: String], _ expected: String) {
        do {
            _ = try Self.databaseSettings(EnvironmentReader(environment), defaultSQLitePath: "x")
            Issue.record("accepted \(environment.keys.sorted())")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(!error.description.contains("s3cret-pw"))
        }
    }

    @Test func unreachableDatabaseFailsWithTheCauseAndNoPassword() async throws {
        let port = PostgresTestServer.freePort()
        do {
            _ = try await RolesStores.open(.postgresql(url: "postgres://u:s3cret-pw@127.0.0.1:\(port)/db?sslmode=disable"), urlSetting: Self.names.url, logger: Self.logger)
            Issue.record("opened a database nobody serves")
        } catch let error as StorageError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("127.0.0.1:\(port)"), "\(error.message)")
            #expect(!error.message.contains("s3cret-pw"))
        }
    }
}
