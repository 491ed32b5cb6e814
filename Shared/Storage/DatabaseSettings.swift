import Foundation
import Settings

/// Which database a service keeps its durable state in.
public enum DatabaseSettings: Sendable, Equatable {
    /// An embedded SQLite file (WAL, synchronous commits). One process per file.
    case sqlite(path: String)
    /// A PostgreSQL database shared by several replicas: `postgres://user:password@host:port/database[?sslmode=...]`.
    case postgresql(url: String)

    /// `CAMUNDA_DATABASE_TYPE`: `sqlite` (default) or `postgresql`.
    public static let typeVariable = "CAMUNDA_DATABASE_TYPE"
    /// `CAMUNDA_DATABASE_URL`: a file path for sqlite, a `postgres://` URL for postgresql.
    public static let urlVariable = "CAMUNDA_DATABASE_URL"

    /// Reads CAMUNDA_DATABASE_TYPE / CAMUNDA_DATABASE_URL with `defaultSQLitePath`; malformed → ConfigurationError.
    ///
    /// ## Configuration keys
    /// - `CAMUNDA_DATABASE_TYPE`: `sqlite` (default) | `postgresql`
    /// - `CAMUNDA_DATABASE_URL`: sqlite file path (default `defaultSQLitePath`, relative to the working directory),
    ///   or `postgres://user:password@host:port/database` (required for postgresql; the password is never logged)
    public static func from(
        _ environment: EnvironmentReader, defaultSQLitePath: String
    ) throws(ConfigurationError) -> DatabaseSettings {
        let type = try environment.choice(typeVariable, default: "sqlite", allowed: ["sqlite", "postgresql"])
        let raw = environment.secret(urlVariable)?.trimmingCharacters(in: .whitespacesAndNewlines)
        let url = (raw?.isEmpty ?? true) ? nil : raw
        switch type {
        case "postgresql":
            guard let url else {
                throw ConfigurationError(
                    variable: urlVariable,
                    message: "is not set but \(typeVariable)=postgresql needs it; expected postgres://user:password@host:5432/database.")
            }
            do {
                _ = try PostgresURL(parsing: url)
            } catch {
                throw ConfigurationError(variable: urlVariable, message: error.message)
            }
            return .postgresql(url: url)
        default:
            let path = url ?? defaultSQLitePath
            if path.contains("://") {
                throw ConfigurationError(
                    variable: urlVariable,
                    message: "'\(PostgresURL.redact(path))' is a URL, but \(typeVariable) is sqlite, which takes a file path; set \(typeVariable)=postgresql for a PostgreSQL URL, or give a path such as data/roles.sqlite.")
            }
            return .sqlite(path: path)
        }
    }

    /// `sqlite` or `postgresql`.
    public var backendName: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgresql: "postgresql"
        }
    }

    /// Where the data lives, safe to log: the file path, or the URL without its password.
    public var redactedDescription: String {
        switch self {
        case .sqlite(let path): path
        case .postgresql(let url): PostgresURL.redact(url)
        }
    }
}

/// A parsed `postgres://` URL. Its description never contains the password.
struct PostgresURL: Sendable, CustomStringConvertible {
    enum SSLMode: String, Sendable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    struct Invalid: Error {
        var message: String
    }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String
    var sslMode: SSLMode
    /// `sslrootcert`: a PEM file of CA certificates to verify the server with.
    var sslRootCertificate: String?

    init(parsing url: String) throws(Invalid) {
        let shown = Self.redact(url)
        let example = "expected postgres://user:password@host:5432/database (optionally ?sslmode=disable|prefer|require|verify-ca|verify-full)"
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql"
        else {
            throw Invalid(message: "'\(shown)' is not a postgres:// URL; \(example).")
        }
        guard let host = components.host, !host.isEmpty else {
            throw Invalid(message: "'\(shown)' names no host; \(example).")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(message: "'\(shown)' names no user; \(example).")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else {
            throw Invalid(message: "'\(shown)' names no database; \(example).")
        }
        var sslMode = SSLMode.prefer
        var rootCertificate: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = SSLMode(rawValue: value) else {
                    throw Invalid(message: "sslmode '\(item.value ?? "")' in '\(shown)' is not supported; \(example).")
                }
                sslMode = mode
            case "sslrootcert":
                rootCertificate = item.value
            default:
                throw Invalid(message: "parameter '\(item.name)' in '\(shown)' is not supported; \(example).")
            }
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.username = user  // URLComponents has already removed the percent-encoding
        self.password = components.password
        self.database = path
        self.sslMode = sslMode
        self.sslRootCertificate = rootCertificate
    }

    var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    /// The URL with any password replaced by `***`, for logs and errors.
    static func redact(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<schemeEnd.upperBound]) + userInfo[..<colon] + ":***" + rest[at...]
    }
}
