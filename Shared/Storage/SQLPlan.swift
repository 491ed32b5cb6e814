/// A value bound to or read from a SQL statement; the subset both backends share.
enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    var int: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    var blob: [UInt8]? {
        if case .blob(let value) = self { return value }
        return nil
    }
}

/// One result row.
typealias SQLRow = [SQLValue]

extension Array where Element == SQLValue {
    /// The text in column `index`, or "" (schema columns are NOT NULL).
    func text(_ index: Int) -> String { indices.contains(index) ? self[index].text ?? "" : "" }
    /// The integer in column `index`, or 0.
    func int(_ index: Int) -> Int64 { indices.contains(index) ? self[index].int ?? 0 : 0 }
    /// The bytes in column `index`, or none.
    func blob(_ index: Int) -> [UInt8] { indices.contains(index) ? self[index].blob ?? [] : [] }
}

/// One statement of a write transaction. SQL uses `?` placeholders (PostgreSQL gets `$1`, `$2`...).
/// `then` sees the statement's rows and returns the statements to run next (or throws to roll back),
/// so checks like "the rule exists" happen inside the transaction, written once for both backends.
struct SQLStep: Sendable {
    var sql: String
    var arguments: [SQLValue]
    /// When set, the rows are kept in the result under this key.
    var key: String?
    var then: (@Sendable ([SQLRow]) throws -> [SQLStep])?
    /// A row to put in the result under `key` without running anything (see ``emit(_:_:)``).
    var emitted: SQLRow?

    init(_ sql: String, _ arguments: [SQLValue] = [], key: String? = nil,
         then: (@Sendable ([SQLRow]) throws -> [SQLStep])? = nil) {
        self.sql = sql
        self.arguments = arguments
        self.key = key
        self.then = then
    }

    /// Whether the statement's rows are needed.
    var returnsRows: Bool { key != nil || then != nil }

    /// A step that runs no SQL and adds `row` to the result under `key` (to report what a `then` decided).
    static func emit(_ key: String, _ row: SQLRow) -> SQLStep {
        var step = SQLStep("", key: key)
        step.emitted = row
        return step
    }

    /// A step that fails with `error` unless the query finds rows (`exists: true`) or none (`exists: false`).
    static func require(_ sql: String, _ arguments: [SQLValue], exists: Bool, otherwise error: StorageError) -> SQLStep {
        SQLStep(sql, arguments) { rows in
            guard rows.isEmpty != exists else { throw error }
            return []
        }
    }
}

/// A write transaction: steps run in order; any error rolls everything back.
struct SQLPlan: Sendable {
    var steps: [SQLStep]
    /// Thrown when a unique constraint fails (a concurrent writer created the same thing).
    var onUniqueViolation: StorageError?
    /// Thrown when a foreign key fails (a concurrent writer deleted what this refers to).
    var onForeignKeyViolation: StorageError?

    init(_ steps: [SQLStep], onUniqueViolation: StorageError? = nil, onForeignKeyViolation: StorageError? = nil) {
        self.steps = steps
        self.onUniqueViolation = onUniqueViolation
        self.onForeignKeyViolation = onForeignKeyViolation
    }
}

/// Rows kept by the steps of a plan that had a `key`.
typealias SQLPlanResult = [String: [SQLRow]]

/// What the stores need from a database: consistent reads and all-or-nothing writes.
protocol SQLBackend: Sendable {
    /// OpenTelemetry's `db.system.name`: `sqlite` or `postgresql`.
    static var systemName: String { get }
    /// Runs the queries in one read transaction (one consistent snapshot).
    func read(_ queries: [SQLStep]) async throws -> [[SQLRow]]
    /// Runs the plan in one transaction; committed (and, for SQLite, synced to disk) when this returns.
    func write(_ plan: SQLPlan) async throws -> SQLPlanResult
}

enum SQLDialect {
    /// `?` placeholders → `$1`, `$2`... (no statement of ours has a `?` inside a literal).
    static func postgresPlaceholders(_ sql: String) -> String {
        var out = ""
        var index = 0
        for character in sql {
            if character == "?" {
                index += 1
                out += "$\(index)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}
