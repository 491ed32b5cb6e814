import AuthProtocol
import Foundation
import GRDB
import Logging

/// SQLite through GRDB: a `DatabasePool` in WAL mode with `synchronous=FULL`, so a committed write is on disk
/// (WAL fsynced) before it is acknowledged and survives `kill -9` and power loss. One process per file.
struct SQLiteBackend: SQLBackend {
    static let systemName = "sqlite"
    let pool: DatabasePool
    let path: String

    /// Opens (creating the file and its directory when missing) and applies `migrations` not yet applied.
    static func open(path: String, setting: String, migrations: [Migration], logger: Logger) throws -> SQLiteBackend {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StorageError(
                    .unavailable,
                    "cannot create the directory \(directory) for the SQLite database: \(error.localizedDescription); check \(setting) and the permissions of the data directory.")
            }
        }
        var configuration = Configuration()
        configuration.label = "storage"
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StorageError(
                .unavailable,
                "cannot open the SQLite database \(path): \(Self.describe(error)); check \(setting) and that the file is a database this service may write.")
        }
        try migrate(pool, path: path, migrations: migrations, logger: logger)
        return SQLiteBackend(pool: pool, path: path)
    }

    private static func migrate(_ pool: DatabasePool, path: String, migrations: [Migration], logger: Logger) throws {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            let statements = migration.sqlite
            migrator.registerMigration(migration.identifier) { db in
                for statement in statements { try db.execute(sql: statement) }
            }
        }
        let known = Set(migrations.map(\.identifier))
        let components = Set(migrations.map(\.component))
        do {
            let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
            let newer = applied.filter { id in
                !known.contains(id) && components.contains { id.hasPrefix("\($0)-v") }
            }
            if !newer.isEmpty {
                throw StorageError(
                    .incompatibleSchema,
                    "the SQLite database \(path) has schema versions this build does not know (\(newer.sorted().joined(separator: ", "))); it was written by a newer version: run that version, or restore a backup.")
            }
            let pending = known.subtracting(applied)
            try migrator.migrate(pool)
            if !pending.isEmpty {
                logger.info("Database schema migrated", metadata: [
                    LogKey.dbSystem: "sqlite", LogKey.dbMigrations: .string(pending.sorted().joined(separator: ",")),
                ])
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(
                .unavailable, "cannot migrate the SQLite database \(path): \(describe(error)); restore a backup or move the file away.")
        }
    }

    func read(_ queries: [SQLStep]) async throws -> [[SQLRow]] {
        try await pool.read { db in
            try queries.map { query in try Self.fetch(db, query) }
        }
    }

    func write(_ plan: SQLPlan) async throws -> SQLPlanResult {
        do {
            return try await pool.write { db in
                var result = SQLPlanResult()
                try Self.run(plan.steps, db, into: &result)
                return result
            }
        } catch let error as DatabaseError {
            switch error.extendedResultCode {
            case .SQLITE_CONSTRAINT_PRIMARYKEY, .SQLITE_CONSTRAINT_UNIQUE:
                if let mapped = plan.onUniqueViolation { throw mapped }
            case .SQLITE_CONSTRAINT_FOREIGNKEY:
                if let mapped = plan.onForeignKeyViolation { throw mapped }
            default:
                break
            }
            throw StorageError(.unavailable, "SQLite write failed: \(Self.describe(error))")
        }
    }

    private static func run(_ steps: [SQLStep], _ db: Database, into result: inout SQLPlanResult) throws {
        for step in steps {
            if let row = step.emitted, let key = step.key {
                result[key, default: []].append(row)
                continue
            }
            if step.returnsRows {
                let rows = try fetch(db, step)
                if let key = step.key { result[key, default: []] += rows }
                if let then = step.then { try run(try then(rows), db, into: &result) }
            } else {
                try db.execute(sql: step.sql, arguments: arguments(step.arguments))
            }
        }
    }

    private static func fetch(_ db: Database, _ step: SQLStep) throws -> [SQLRow] {
        try Row.fetchAll(db, sql: step.sql, arguments: arguments(step.arguments)).map { row in
            (0..<row.count).map { index in
                let value: DatabaseValue = row[index]
                switch value.storage {
                case .null: return .null
                case .int64(let number): return .int(number)
                case .double(let number): return .int(Int64(number))
                case .string(let text): return .text(text)
                case .blob(let data): return .blob([UInt8](data))
                }
            }
        }
    }

    private static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map { value -> DatabaseValue in
            switch value {
            case .null: return .null
            case .int(let number): return number.databaseValue
            case .text(let text): return text.databaseValue
            case .blob(let bytes): return Data(bytes).databaseValue
            }
        })
    }

    /// SQLite's message without the statement's arguments (they may hold session data).
    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "unknown")"
        }
        return String(describing: error)
    }
}
