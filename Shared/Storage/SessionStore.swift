import Foundation
import Logging
import ServiceLifecycle

/// A persisted session. `id` is already a hash of the cookie (the store never sees the cookie itself).
public struct StoredSession: Sendable, Codable, Equatable {
    public var id: String
    public var payload: [UInt8]
    public var expiresAt: Date
    public var createdAt: Date

    public init(id: String, payload: [UInt8], expiresAt: Date, createdAt: Date) {
        self.id = id
        self.payload = payload
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

/// Durable sessions (authn's `CAMUNDA_PERSISTENT_SESSIONS_ENABLED`), in SQLite or PostgreSQL.
public protocol SessionStore: Sendable {
    /// Inserts or replaces the session with this id.
    func save(_ session: StoredSession) async throws
    /// The session, or nil when absent or expired at `now`.
    func load(id: String, now: Date) async throws -> StoredSession?
    /// Removes the session (no error when absent).
    func delete(id: String) async throws
    /// Removes every session expired at `now`; returns how many.
    func purgeExpired(now: Date) async throws -> Int
}

/// Opens session stores.
public enum SessionStores {
    /// Opens (and migrates) the session table in the configured database (errors name `urlSetting`, the variable the service read its URL from); `services` must run in the
    /// ServiceGroup (e.g. the PostgresClient's run loop).
    public static func open(
        _ settings: DatabaseSettings, urlSetting: String, logger: Logger
    ) async throws -> (store: any SessionStore, services: [any Service]) {
        switch settings {
        case .sqlite(let path):
            let backend = try SQLiteBackend.open(path: path, setting: urlSetting, migrations: Migrations.sessions, logger: logger)
            return (SQLSessionStore(backend: backend), [])
        case .postgresql(let url):
            let (backend, client) = try await PostgresBackend.open(url: url, setting: urlSetting, migrations: Migrations.sessions, logger: logger)
            return (SQLSessionStore(backend: backend), [client])
        }
    }
}

/// The session store over either backend.
struct SQLSessionStore<Backend: SQLBackend>: SessionStore {
    let backend: Backend

    func save(_ session: StoredSession) async throws {
        _ = try await backend.write(SQLPlan([
            SQLStep(
                """
                INSERT INTO sessions (id, payload, expires_at, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at,
                    created_at = excluded.created_at
                """,
                [.text(session.id), .blob(session.payload), .int(session.expiresAt.storageMilliseconds),
                 .int(session.createdAt.storageMilliseconds)]),
        ]))
    }

    func load(id: String, now: Date) async throws -> StoredSession? {
        let results = try await backend.read([
            SQLStep(
                "SELECT id, payload, expires_at, created_at FROM sessions WHERE id = ? AND expires_at > ?",
                [.text(id), .int(now.storageMilliseconds)], key: "session"),
        ])
        guard let row = results.first?.first else { return nil }
        return StoredSession(
            id: row.text(0), payload: row.blob(1),
            expiresAt: Date(storageMilliseconds: row.int(2)), createdAt: Date(storageMilliseconds: row.int(3)))
    }

    func delete(id: String) async throws {
        _ = try await backend.write(SQLPlan([SQLStep("DELETE FROM sessions WHERE id = ?", [.text(id)])]))
    }

    func purgeExpired(now: Date) async throws -> Int {
        let result = try await backend.write(SQLPlan([
            SQLStep("DELETE FROM sessions WHERE expires_at <= ? RETURNING id", [.int(now.storageMilliseconds)], key: "purged"),
        ]))
        return result["purged"]?.count ?? 0
    }
}

extension Date {
    /// Milliseconds since 1970, as stored (both backends use BIGINT/INTEGER milliseconds).
    var storageMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }

    init(storageMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(storageMilliseconds) / 1000)
    }
}
