/// A versioned schema change, written for both dialects. Applied once, in order, at start.
struct Migration: Sendable {
    /// The set this migration belongs to (`roles`, `sessions`): each set has its own version sequence.
    var component: String
    var version: Int
    var sqlite: [String]
    var postgresql: [String]

    /// GRDB's identifier for it.
    var identifier: String { "\(component)-v\(version)" }
}

enum Migrations {
    static let roles: [Migration] = [
        Migration(
            component: "roles", version: 1,
            sqlite: [
                """
                CREATE TABLE mapping_rules (
                    id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
                    claim_name TEXT NOT NULL, claim_value TEXT NOT NULL,
                    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)
                """,
                """
                CREATE TABLE roles (
                    id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
                    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)
                """,
                """
                CREATE TABLE role_mapping_rules (
                    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
                    mapping_rule_id TEXT NOT NULL REFERENCES mapping_rules(id) ON DELETE CASCADE,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (role_id, mapping_rule_id))
                """,
                "CREATE INDEX role_mapping_rules_by_rule ON role_mapping_rules(mapping_rule_id)",
                """
                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, caller TEXT NOT NULL,
                    principal TEXT NOT NULL, method TEXT NOT NULL, credential TEXT NOT NULL,
                    action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL)
                """,
                "CREATE TABLE roles_change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
                "INSERT INTO roles_change_counter (id, version) VALUES (1, 0)",
            ],
            postgresql: [
                """
                CREATE TABLE mapping_rules (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                    claim_name TEXT NOT NULL, claim_value TEXT NOT NULL,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE roles (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
                    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE role_mapping_rules (
                    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
                    mapping_rule_id TEXT NOT NULL REFERENCES mapping_rules(id) ON DELETE CASCADE,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (role_id, mapping_rule_id))
                """,
                "CREATE INDEX role_mapping_rules_by_rule ON role_mapping_rules(mapping_rule_id)",
                """
                CREATE TABLE audit_log (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, caller TEXT NOT NULL,
                    principal TEXT NOT NULL, method TEXT NOT NULL, credential TEXT NOT NULL,
                    action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL)
                """,
                "CREATE TABLE roles_change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
                "INSERT INTO roles_change_counter (id, version) VALUES (1, 0)",
            ]),
        // Certificate rules may pin the issuing CA by its public key (issue 17 item 5); '' means not pinned.
        Migration(
            component: "roles", version: 2,
            sqlite: ["ALTER TABLE mapping_rules ADD COLUMN issuer_spki_sha256 TEXT NOT NULL DEFAULT ''"],
            postgresql: ["ALTER TABLE mapping_rules ADD COLUMN issuer_spki_sha256 TEXT NOT NULL DEFAULT ''"]),
    ]

    static let sessions: [Migration] = [
        Migration(
            component: "sessions", version: 1,
            sqlite: [
                """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY NOT NULL, payload BLOB NOT NULL,
                    expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL)
                """,
                "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
            ],
            postgresql: [
                """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY, payload BYTEA NOT NULL,
                    expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
            ]),
    ]
}
