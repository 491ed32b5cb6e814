import Foundation
import Settings

/// Which database a service keeps its durable state in.
public enum DatabaseSettings: Sendable, Equatable {
    /// An embedded SQLite file (WAL, synchronous commits). One process per file.
    case sqlite(path: String)
    /// A PostgreSQL database shared by several replicas: `postgres://user:password@host:port/database[?sslmode=...]`.
    case postgresql(url: String)

    /// The variables a service reads these settings from, named in error messages (the service's configuration
    /// type owns the names; Storage reads no environment).
    public struct SettingNames: Sendable, Equatable {
        /// The backend's name: `sqlite` or `postgresql`.
        public var type: String
        /// A file path for sqlite, a `postgres://` URL for postgresql.
        public var url: String

        public init(type: String, url: String) {
            self.type = type
            self.url = url
        }
    }

    /// The backend names a type setting takes (``backendName``).
    public static let backendNames = ["sqlite", "postgresql"]

    /// The settings for `backend` (one of ``backendNames``) and `url` (nil or blank: `defaultSQLitePath` for sqlite,
    /// an error for postgresql). A malformed URL is a ConfigurationError naming `names.url`, never showing the
    /// password.
    public static func checked(
        backend: String, url: String?, defaultSQLitePath: String, names: SettingNames
    ) throws(ConfigurationError) -> DatabaseSettings {
        let trimmed = url?.trimmingCharacters(in: .whitespacesAndNewlines)
        let url = (trimmed?.isEmpty ?? true) ? nil : trimmed
        switch backend {
        case "postgresql":
            guard let url else {
                throw ConfigurationError(
                    variable: names.url,
                    message: "is not set but \(names.type)=postgresql needs it; expected postgres://user:password@host:5432/database.")
            }
            do {
                _ = try PostgresURL(parsing: url)
            } catch {
                throw ConfigurationError(variable: names.url, message: error.message)
            }
            return .postgresql(url: url)
        default:
            let path = url ?? defaultSQLitePath
            if path.contains("://") {
                throw ConfigurationError(
                    variable: names.url,
                    message: "'\(PostgresURL.redact(path))' is a URL, but \(names.type) is sqlite, which takes a file path; set \(names.type)=postgresql for a PostgreSQL URL, or give a path such as data/roles.sqlite.")
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
