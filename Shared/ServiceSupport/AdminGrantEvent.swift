import AuthProtocol
import Logging

/// A grant of an admin role, logged by authn (a caller was given one) and roles (a mapping rule gives one) in one shape:
/// a `warning` "Security audit: …" with `security.event` and dotted keys (OpenTelemetry's attribute style), so one
/// alert or log query finds every kind (docs/authn.md, docs/roles.md).
public struct AdminGrantEvent: Sendable {
    public enum Kind: String, Sendable {
        /// authn: a caller was authenticated with an admin role (logged once per principal, method and role).
        case principalGranted = "admin_role_granted"
        /// authn: configuration gives every valid client certificate an admin role.
        case configuredDefault = "admin_role_default"
        /// roles: a mapping rule now gives an admin role (assignment, a changed match, a rename, the bootstrap).
        case mappingRule = "admin_grant"
    }

    public var kind: Kind
    /// The role granted (its name, or its id when the grant is by id).
    public var role: String
    /// Who receives it: the principal, or `configuration`.
    public var principal: String
    /// What else identifies the grant, keyed by ``LogKey`` (`role.id`, `mapping_rule.id`, `auth.method`,
    /// `auth.credential`, `auth.caller`, `config.variable`, `claim.name`, `grant.source`).
    public var details: [String: String]

    public init(_ kind: Kind, role: String, principal: String, details: [String: String] = [:]) {
        self.kind = kind
        self.role = role
        self.principal = principal
        self.details = details
    }

    public var message: Logger.Message {
        switch kind {
        case .principalGranted: "Security audit: admin role granted"
        case .configuredDefault: "Security audit: every valid client certificate is granted an admin role by configuration"
        case .mappingRule: "Security audit: admin role granted through a mapping rule"
        }
    }

    public var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = [
            LogKey.securityEvent: .string(kind.rawValue), LogKey.roleName: .string(role), LogKey.principal: .string(principal),
        ]
        for (key, value) in details { metadata[key] = .string(value) }
        return metadata
    }

    /// Writes the event as a warning.
    public func log(to logger: Logger) {
        logger.warning(message, metadata: metadata)
    }

    /// Whether a role name or id reads as an admin role ("admin" in any case, ASCII), on its UTF-8 bytes:
    /// `uppercased().contains("ADMIN")` went through Foundation's `NSString` search, 1.5 % of every authenticated
    /// request (perf).
    public static func isAdminLike(_ role: String) -> Bool {
        var role = role
        return role.withUTF8 { bytes in
            let pattern: StaticString = "admin"
            let length = pattern.utf8CodeUnitCount
            guard bytes.count >= length else { return false }
            return pattern.withUTF8Buffer { pattern in
                (0...(bytes.count - length)).contains { start in
                    (0..<length).allSatisfy { bytes[start + $0] | 0x20 == pattern[$0] }
                }
            }
        }
    }
}
