import Foundation
import ServiceSupport
import Settings
import Storage

/// The claim that bootstraps the admin: whoever carries it gets the role `admin` (the seeds' `INITIAL_CLAIM_*`).
public struct InitialClaim: Sendable, Equatable {
    public var name: String
    public var value: String
    /// The variables it came from, for the audit trail.
    public var source: String

    public init(name: String, value: String, source: String) {
        self.name = name
        self.value = value
        self.source = source
    }
}

/// Everything roles needs, read once at start.
public struct RolesConfiguration: Sendable {
    public var listener: ListenerSettings
    public var database: DatabaseSettings
    public var initialClaim: InitialClaim?
    /// Certificate identities allowed to call `/v1/resolve` and `/v2/**`.
    public var allowedCallers: [String]
    /// How often the store's change counter is checked for other replicas' writes.
    public var reloadInterval: Duration

    public init(listener: ListenerSettings, database: DatabaseSettings, initialClaim: InitialClaim? = nil,
                allowedCallers: [String] = [RolesSetting.defaultAllowedCaller], reloadInterval: Duration = .milliseconds(250)) {
        self.listener = listener
        self.database = database
        self.initialClaim = initialClaim
        self.allowedCallers = allowedCallers
        self.reloadInterval = reloadInterval
    }
}

/// Environment variable names of roles.
public enum RolesSetting {
    /// `sqlite` (default) or `postgresql`.
    public static let databaseType = "CAMUNDA_DATABASE_TYPE"
    /// The sqlite file (default ``defaultSQLitePath``), or `postgres://user:password@host:port/database[?sslmode=…]`
    /// (required for postgresql; `_FILE` form read, the password never logged).
    public static let databaseURL = "CAMUNDA_DATABASE_URL"
    public static let database = DatabaseSettings.SettingNames(type: databaseType, url: databaseURL)
    public static let initialClaimName = "INITIAL_CLAIM_NAME"
    public static let initialClaimValue = "INITIAL_CLAIM_VALUE"
    public static let identityInitialClaimName = "IDENTITY_INITIAL_CLAIM_NAME"
    public static let identityInitialClaimValue = "IDENTITY_INITIAL_CLAIM_VALUE"
    public static let allowedCallers = "CAMUNDA_ROLES_ALLOWED_CALLERS"
    public static let reloadInterval = "CAMUNDA_ROLES_RELOAD_INTERVAL_MS"

    /// The SQLite file when `CAMUNDA_DATABASE_URL` is unset, relative to the working directory.
    public static let defaultSQLitePath = "data/roles.sqlite"
    public static let defaultAllowedCaller = "authn"
    /// The claim name when only a value is configured (Camunda Identity's default: Entra's object id).
    public static let defaultInitialClaimName = "oid"
    /// The role the initial claim grants.
    public static let adminRoleID = "admin"
    /// The mapping rule the initial claim becomes.
    public static let initialRuleID = "initial-admin"
}

extension RolesConfiguration {
    public static let defaultPort = 8445
    public static let defaultManagementPort = 9082

    /// Reads and checks every setting; the first problem is thrown as one line naming the variable.
    ///
    /// ## Configuration keys
    /// See ``RolesSetting`` and ``ListenerSettings``;
    /// docs/roles.md has the table.
    public init(environment env: EnvironmentReader) throws(ConfigurationError) {
        typealias S = RolesSetting
        let listener = try ListenerSettings(
            environment: env, defaultPort: Self.defaultPort, defaultManagementPort: Self.defaultManagementPort,
            defaultClientAuth: .need)
        try listener.requireClientCertificates(
            because: "roles answers only callers that present a certificate from the internal CA (it trusts authn's X-Auth-* headers on that basis)")
        let database = try DatabaseSettings.checked(
            backend: env.choice(S.databaseType, default: "sqlite", allowed: DatabaseSettings.backendNames),
            url: env.secret(S.databaseURL), defaultSQLitePath: S.defaultSQLitePath, names: S.database)
        let initialClaim = try Self.initialClaim(env)
        var callers = env.list(S.allowedCallers)
        if env.string(S.allowedCallers) == nil { callers = [S.defaultAllowedCaller] }
        guard !callers.isEmpty else {
            throw ConfigurationError(variable: S.allowedCallers, message: "lists no service; expected a comma list of certificate identities, e.g. authn.")
        }
        let interval = try env.int(S.reloadInterval, default: 250, range: 50...60_000)
        self.init(listener: listener, database: database, initialClaim: initialClaim, allowedCallers: callers,
                  reloadInterval: .milliseconds(interval))
    }

    /// `INITIAL_CLAIM_NAME`/`INITIAL_CLAIM_VALUE`, or the seed's `IDENTITY_` forms. Both forms set and different
    /// is an error: an ambiguous admin grant must not start.
    static func initialClaim(_ env: EnvironmentReader) throws(ConfigurationError) -> InitialClaim? {
        typealias S = RolesSetting
        let plainName = env.string(S.initialClaimName), plainValue = env.string(S.initialClaimValue)
        let identityName = env.string(S.identityInitialClaimName), identityValue = env.string(S.identityInitialClaimValue)
        if let plainValue, let identityValue, plainValue != identityValue {
            throw ConfigurationError(
                variable: S.initialClaimValue,
                message: "differs from \(S.identityInitialClaimValue); set only one of them (they name the same admin claim).")
        }
        if let plainName, let identityName, plainName != identityName {
            throw ConfigurationError(
                variable: S.initialClaimName,
                message: "differs from \(S.identityInitialClaimName); set only one of them (they name the same admin claim).")
        }
        let name = plainName ?? identityName
        guard let value = plainValue ?? identityValue else {
            if name != nil {
                throw ConfigurationError(
                    variable: plainName != nil ? S.initialClaimValue : S.identityInitialClaimValue,
                    message: "is not set but \(plainName != nil ? S.initialClaimName : S.identityInitialClaimName) is; expected the claim value that makes its bearer admin, e.g. the object id of the administrator.")
            }
            return nil
        }
        let usesIdentityForm = plainValue == nil
        let valueVariable = usesIdentityForm ? S.identityInitialClaimValue : S.initialClaimValue
        let nameVariable = usesIdentityForm ? S.identityInitialClaimName : S.initialClaimName
        if value.count > RoleValidation.maxClaimValueLength {
            throw ConfigurationError(variable: valueVariable, message: "is longer than \(RoleValidation.maxClaimValueLength) characters.")
        }
        if let name, let problem = RoleValidation.claimNameProblem(name) {
            throw ConfigurationError(variable: nameVariable, message: problem)
        }
        let source = name == nil ? valueVariable : "\(nameVariable), \(valueVariable)"
        return InitialClaim(name: name ?? S.defaultInitialClaimName, value: value, source: source)
    }
}
