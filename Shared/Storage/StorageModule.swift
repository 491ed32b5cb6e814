// TEMPORARY API STUB on the authn branch: replaced by the roles branch's implementation at merge.
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport

public enum DatabaseSettings: Sendable {
    case sqlite(path: String), postgresql(url: String)
    public static func from(_ environment: EnvironmentReader, defaultSQLitePath: String) throws(ConfigurationError) -> DatabaseSettings { .sqlite(path: defaultSQLitePath) }
}
public struct StoredSession: Sendable, Codable, Equatable {
    public var id: String; public var payload: [UInt8]; public var expiresAt: Date; public var createdAt: Date
    public init(id: String, payload: [UInt8], expiresAt: Date, createdAt: Date) { self.id = id; self.payload = payload; self.expiresAt = expiresAt; self.createdAt = createdAt }
}
public protocol SessionStore: Sendable {
    func save(_ session: StoredSession) async throws
    func load(id: String, now: Date) async throws -> StoredSession?
    func delete(id: String) async throws
    func purgeExpired(now: Date) async throws -> Int
}
public enum SessionStores {
    public static func open(_ settings: DatabaseSettings, logger: Logger) async throws -> (store: any SessionStore, services: [any Service]) {
        throw ConfigurationError(variable: "x", message: "stub")
    }
}
