import Foundation

// MARK: - roles /v2 management API (Camunda 8.8 shapes, docs/roles.md)

/// What a mapping rule compares. An extension of Camunda's shape: absent means `claim`.
public enum MappingRuleKind: String, Codable, Sendable, CaseIterable {
    /// A token claim (string, or array of strings like Entra's `roles`) equals `claimValue`.
    case claim
    /// The client certificate's subject equals the DN in `claimValue` (attribute by attribute, RFC 4514).
    case subjectDN = "subject_dn"
    /// The client certificate's subject (RFC 4514 string) matches the regular expression in `claimValue`, whole string.
    case subjectDNRegex = "subject_dn_regex"
    /// One of the client certificate's DNS subjectAltNames equals `claimValue` (ASCII case ignored; a leading `*.`
    /// label matches one label: ``DNSNamePattern``).
    case sanDNS = "san_dns"
    /// One of the client certificate's URI subjectAltNames equals `claimValue` exactly.
    case sanURI = "san_uri"
    /// The client certificate's SPIFFE ID (its one `spiffe://` URI SAN) matches the pattern in `claimValue`: trust
    /// domain exact, path glob (``SPIFFEPattern``).
    case spiffeID = "spiffe_id"

    /// Whether the rule looks at the client certificate (every kind but `claim`): such rules may pin the issuing CA.
    public var isCertificateRule: Bool { self != .claim }
}

/// A mapping rule as `/v2/mapping-rules` answers it.
public struct MappingRule: Codable, Sendable, Equatable {
    public var mappingRuleId: String
    public var claimName: String
    public var claimValue: String
    public var name: String
    public var kind: MappingRuleKind
    /// Certificate rules only: the rule matches only certificates issued by the CA whose public key has this
    /// SHA-256 (SubjectPublicKeyInfo, lower-case hex). Absent: any trusted issuer.
    public var issuerSpkiSha256: String?

    public init(mappingRuleId: String, claimName: String, claimValue: String, name: String, kind: MappingRuleKind = .claim,
                issuerSpkiSha256: String? = nil) {
        self.mappingRuleId = mappingRuleId
        self.claimName = claimName
        self.claimValue = claimValue
        self.name = name
        self.kind = kind
        self.issuerSpkiSha256 = issuerSpkiSha256
    }
}

/// Body of `POST /v2/mapping-rules`.
public struct MappingRuleCreateRequest: Codable, Sendable, Equatable {
    public var mappingRuleId: String
    /// Required for `claim` rules; ignored for the subject kinds.
    public var claimName: String?
    public var claimValue: String
    public var name: String
    /// `claim` when absent.
    public var kind: MappingRuleKind?
    /// Certificate rules: pins the issuing CA (hex or base64url SHA-256 of its SubjectPublicKeyInfo).
    public var issuerSpkiSha256: String?

    public init(mappingRuleId: String, claimName: String?, claimValue: String, name: String, kind: MappingRuleKind? = nil,
                issuerSpkiSha256: String? = nil) {
        self.mappingRuleId = mappingRuleId
        self.claimName = claimName
        self.claimValue = claimValue
        self.name = name
        self.kind = kind
        self.issuerSpkiSha256 = issuerSpkiSha256
    }
}

/// Body of `PUT /v2/mapping-rules/{mappingRuleId}`.
public struct MappingRuleUpdateRequest: Codable, Sendable, Equatable {
    public var claimName: String?
    public var claimValue: String
    public var name: String
    public var kind: MappingRuleKind?
    public var issuerSpkiSha256: String?

    public init(claimName: String?, claimValue: String, name: String, kind: MappingRuleKind? = nil,
                issuerSpkiSha256: String? = nil) {
        self.claimName = claimName
        self.claimValue = claimValue
        self.name = name
        self.kind = kind
        self.issuerSpkiSha256 = issuerSpkiSha256
    }
}

/// A role as `/v2/roles` answers it.
public struct Role: Codable, Sendable, Equatable {
    public var roleId: String
    public var name: String
    public var description: String

    public init(roleId: String, name: String, description: String = "") {
        self.roleId = roleId
        self.name = name
        self.description = description
    }
}

/// Body of `POST /v2/roles`.
public struct RoleCreateRequest: Codable, Sendable, Equatable {
    public var roleId: String
    public var name: String
    public var description: String?

    public init(roleId: String, name: String, description: String? = nil) {
        self.roleId = roleId
        self.name = name
        self.description = description
    }
}

/// Body of `PUT /v2/roles/{roleId}`.
public struct RoleUpdateRequest: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?

    public init(name: String, description: String? = nil) {
        self.name = name
        self.description = description
    }
}

/// Sort direction of a search.
public enum SortOrder: String, Codable, Sendable {
    case asc = "ASC"
    case desc = "DESC"
}

/// One sort key of a search.
public struct SearchSort: Codable, Sendable, Equatable {
    public var field: String
    public var order: SortOrder?

    public init(field: String, order: SortOrder? = nil) {
        self.field = field
        self.order = order
    }
}

/// Paging of a search request: `from` (default 0), `limit` (default 100, at most 1000).
public struct SearchPageRequest: Codable, Sendable, Equatable {
    public var from: Int?
    public var limit: Int?

    public init(from: Int? = nil, limit: Int? = nil) {
        self.from = from
        self.limit = limit
    }
}

/// Filter of `POST /v2/mapping-rules/search` (each field: equality).
public struct MappingRuleFilter: Codable, Sendable, Equatable {
    public var mappingRuleId: String?
    public var claimName: String?
    public var claimValue: String?
    public var name: String?
    public var kind: MappingRuleKind?

    public init(mappingRuleId: String? = nil, claimName: String? = nil, claimValue: String? = nil,
                name: String? = nil, kind: MappingRuleKind? = nil) {
        self.mappingRuleId = mappingRuleId
        self.claimName = claimName
        self.claimValue = claimValue
        self.name = name
        self.kind = kind
    }
}

/// Filter of `POST /v2/roles/search` (each field: equality).
public struct RoleFilter: Codable, Sendable, Equatable {
    public var roleId: String?
    public var name: String?

    public init(roleId: String? = nil, name: String? = nil) {
        self.roleId = roleId
        self.name = name
    }
}

/// Body of the `/search` endpoints.
public struct SearchRequest<Filter: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var filter: Filter?
    public var sort: [SearchSort]?
    public var page: SearchPageRequest?

    public init(filter: Filter? = nil, sort: [SearchSort]? = nil, page: SearchPageRequest? = nil) {
        self.filter = filter
        self.sort = sort
        self.page = page
    }
}

/// Paging of a search answer.
public struct SearchResponsePage: Codable, Sendable, Equatable {
    /// How many items match, over all pages.
    public var totalItems: Int

    public init(totalItems: Int) {
        self.totalItems = totalItems
    }
}

/// Answer of the `/search` endpoints and of `GET /v2/audit-log`.
public struct SearchResponse<Item: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var items: [Item]
    public var page: SearchResponsePage

    public init(items: [Item], page: SearchResponsePage) {
        self.items = items
        self.page = page
    }
}

/// One change in the audit trail (`GET /v2/audit-log`, admins only).
public struct AuditLogEntry: Codable, Sendable, Equatable {
    /// Increasing; page back with `?before=<id>`.
    public var id: Int64
    /// RFC 3339.
    public var timestamp: String
    /// The service that forwarded the change (its certificate identity), e.g. `authn`; `roles` for configuration.
    public var caller: String
    /// Who made the change (`X-Auth-Principal`).
    public var principal: String
    /// How they authenticated (`X-Auth-Method`), or `configuration`.
    public var authenticationMethod: String
    /// Which certificate or token (`X-Auth-Credential`: `x5t#S256=...` or `jti=...; kid=...`), or the settings used.
    public var credential: String
    /// What was done, e.g. `mapping_rule.create`, `role.assign_mapping_rule`, `admin.grant`.
    public var action: String
    /// What it was done to, e.g. `mapping_rule:operate` or `role:admin`.
    public var target: String
    /// The values written.
    public var details: [String: String]

    public init(id: Int64, timestamp: String, caller: String, principal: String, authenticationMethod: String,
                credential: String, action: String, target: String, details: [String: String]) {
        self.id = id
        self.timestamp = timestamp
        self.caller = caller
        self.principal = principal
        self.authenticationMethod = authenticationMethod
        self.credential = credential
        self.action = action
        self.target = target
        self.details = details
    }
}

extension ProtocolPath {
    public static let mappingRules = "/v2/mapping-rules"
    public static let mappingRulesSearch = "/v2/mapping-rules/search"
    public static let roles = "/v2/roles"
    public static let rolesSearch = "/v2/roles/search"
}
