import AuthProtocol
import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// PostgreSQL through postgres-nio's `PostgresClient` (a connection pool, run as a `Service`).
struct PostgresBackend: SQLBackend {
    static let systemName = "postgresql"
    let client: PostgresClient
    let logger: Logger

    /// Key of the advisory lock that serialises migrations across replicas starting together.
    static let migrationLockKey: Int64 = 0x6365_7274_6175_7468  // "certauth"

    private enum TLSMode {
        case disable, prefer, require
    }

    /// libpq's `sslmode` semantics.
    private static func tls(_ url: PostgresURL) -> (TLSMode, TLSConfiguration) {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let root = url.sslRootCertificate { tlsConfiguration.trustRoots = .file(root) }
        switch url.sslMode {
        case .disable:
            return (.disable, tlsConfiguration)
        case .allow, .prefer:
            // Encrypt when the server offers it, without verifying the certificate.
            tlsConfiguration.certificateVerification = .none
            return (.prefer, tlsConfiguration)
        case .require:
            tlsConfiguration.certificateVerification = url.sslRootCertificate == nil ? .none : .noHostnameVerification
            return (.require, tlsConfiguration)
        case .verifyCA:
            tlsConfiguration.certificateVerification = .noHostnameVerification
            return (.require, tlsConfiguration)
        case .verifyFull:
            tlsConfiguration.certificateVerification = .fullVerification
            return (.require, tlsConfiguration)
        }
    }

    static func clientConfiguration(_ url: PostgresURL) -> PostgresClient.Configuration {
        let (mode, tlsConfiguration) = tls(url)
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(tlsConfiguration)
        case .require: tls = .require(tlsConfiguration)
        }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password,
            database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.maximumConnections = 10
        return configuration
    }

    static func connectionConfiguration(_ url: PostgresURL) throws -> PostgresConnection.Configuration {
        let (mode, tlsConfiguration) = tls(url)
        let tls: PostgresConnection.Configuration.TLS
        switch mode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require: tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password,
            database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// Parses the URL, applies `migrations` over one direct connection (so a wrong host or password fails the
    /// start at once, with the cause), and returns a backend whose client must run as a service (the second value).
    static func open(url: String, setting: String, migrations: [Migration], logger: Logger) async throws -> (PostgresBackend, any Service) {
        let parsed: PostgresURL
        do {
            parsed = try PostgresURL(parsing: url)
        } catch {
            throw StorageError(.unavailable, "\(setting): \(error.message)")
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try connectionConfiguration(parsed), id: 0, logger: logger)
        } catch {
            throw StorageError(
                .unavailable,
                "cannot connect to PostgreSQL at \(parsed): \(describe(error)); check \(setting) (host, port, user, password, database, sslmode) and that the server accepts connections from this host.")
        }
        do {
            try await migrate(connection, migrations: migrations, target: parsed, logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
        let client = PostgresClient(configuration: clientConfiguration(parsed), backgroundLogger: logger)
        return (PostgresBackend(client: client, logger: logger), client)
    }

    private static func migrate(
        _ connection: PostgresConnection, migrations: [Migration], target: PostgresURL, logger: Logger
    ) async throws {
        let components = Set(migrations.map(\.component))
        do {
            try await transaction(connection, logger: logger) { connection in
                // Replicas starting together: the first takes the lock and migrates, the others wait and find
                // everything applied.
                try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock(\(migrationLockKey))"), logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        component TEXT NOT NULL, version INTEGER NOT NULL, applied_at BIGINT NOT NULL,
                        PRIMARY KEY (component, version))
                    """, logger: logger)
                var applied = Set<String>()
                let rows = try await connection.query(
                    "SELECT component, version FROM schema_migrations", logger: logger)
                for try await (component, version) in rows.decode((String, Int).self) {
                    applied.insert("\(component)-v\(version)")
                }
                let known = Set(migrations.map(\.identifier))
                let newer = applied.filter { id in
                    !known.contains(id) && components.contains { id.hasPrefix("\($0)-v") }
                }
                if !newer.isEmpty {
                    throw StorageError(
                        .incompatibleSchema,
                        "the PostgreSQL database at \(target) has schema versions this build does not know (\(newer.sorted().joined(separator: ", "))); it was written by a newer version: run that version, or restore a backup.")
                }
                for migration in migrations where !applied.contains(migration.identifier) {
                    for statement in migration.postgresql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    try await connection.query(
                        "INSERT INTO schema_migrations (component, version, applied_at) VALUES (\(migration.component), \(migration.version), \(now))",
                        logger: logger)
                    logger.info("Database schema migrated", metadata: [
                        LogKey.dbSystem: "postgresql", LogKey.dbMigrations: .string(migration.identifier),
                    ])
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.unavailable, "cannot migrate the PostgreSQL database at \(target): \(describe(error))")
        }
    }

    func read(_ queries: [SQLStep]) async throws -> [[SQLRow]] {
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                if queries.count == 1, let query = queries.first {
                    return [try await Self.fetch(connection, query, logger: logger)]  // one statement is one snapshot
                }
                return try await Self.transaction(connection, logger: logger) { connection in
                    // One snapshot for all queries, like SQLite's read transaction.
                    try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                    var results: [[SQLRow]] = []
                    for query in queries { results.append(try await Self.fetch(connection, query, logger: logger)) }
                    return results
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.unavailable, "PostgreSQL read failed: \(Self.describe(error))")
        }
    }

    func write(_ plan: SQLPlan) async throws -> SQLPlanResult {
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                try await Self.transaction(connection, logger: logger) { connection in
                    var result = SQLPlanResult()
                    try await Self.run(plan.steps, connection, logger: logger, into: &result)
                    return result
                }
            }
        } catch let error as StorageError {
            throw error
        } catch let error as PSQLError {
            switch error.serverInfo?[.sqlState] {
            case "23505": if let mapped = plan.onUniqueViolation { throw mapped }
            case "23503": if let mapped = plan.onForeignKeyViolation { throw mapped }
            default: break
            }
            throw StorageError(.unavailable, "PostgreSQL write failed: \(Self.describe(error))")
        } catch {
            throw StorageError(.unavailable, "PostgreSQL write failed: \(Self.describe(error))")
        }
    }

    /// BEGIN, `body`, COMMIT; ROLLBACK when `body` throws. Errors come out unwrapped.
    static func transaction<T: Sendable>(
        _ connection: PostgresConnection, logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        let value: T
        do {
            value = try await body(connection)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        try await connection.query("COMMIT", logger: logger)
        return value
    }

    private static func run(
        _ steps: [SQLStep], _ connection: PostgresConnection, logger: Logger, into result: inout SQLPlanResult
    ) async throws {
        for step in steps {
            if let row = step.emitted, let key = step.key {
                result[key, default: []].append(row)
                continue
            }
            let rows = try await fetch(connection, step, logger: logger)
            if let key = step.key { result[key, default: []] += rows }
            if let then = step.then { try await run(try then(rows), connection, logger: logger, into: &result) }
        }
    }

    private static func fetch(_ connection: PostgresConnection, _ step: SQLStep, logger: Logger) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: step.arguments.count)
        for argument in step.arguments {
            switch argument {
            case .null: bindings.appendNull()
            case .int(let number): bindings.append(number)
            case .text(let text): bindings.append(text)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        let query = PostgresQuery(unsafeSQL: SQLDialect.postgresPlaceholders(step.sql), binds: bindings)
        let rows = try await connection.query(query, logger: logger)
        var out: [SQLRow] = []
        for try await row in rows {
            out.append(try row.map(value(of:)))
        }
        return out
    }

    private static func value(of cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
        case .bytea:
            let buffer = try cell.decode(ByteBuffer.self)
            return .blob(Array(buffer.readableBytesView))
        default: return .text(try cell.decode(String.self))
        }
    }

    /// What went wrong, without the query's bound values (they may hold session data).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                return "server error \(info[.sqlState] ?? "?"): \(info[.message] ?? "no message")"
            }
            if let underlying = error.underlying {
                return "\(error.code): \(underlying)"
            }
            return "\(error.code)"
        }
        if let error = error as? PostgresTransactionError {
            return describe(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error)
        }
        return String(describing: error)
    }
}
