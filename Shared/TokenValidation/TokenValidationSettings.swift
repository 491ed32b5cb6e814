import JOSE
import Foundation

/// What a token must look like to be accepted (docs/authn.md).
public struct TokenValidationSettings: Sendable {
    /// Accepted `iss` values, exact match.
    public var issuers: [String]
    /// `aud` (string or array) must contain one of these.
    public var audiences: [String]
    /// Accepted header `alg` values; `none` and HMAC are never accepted whatever this says.
    public var algorithms: Set<JWSAlgorithm>
    /// Clock skew allowed for `exp`, `nbf` and `iat`.
    public var leeway: Duration
    /// Longer tokens are refused before any parsing.
    public var maxTokenLength: Int
    /// Claims whose values (string or array) become roles, in this order.
    public var roleClaims: [String]
    /// Claims whose values (space-separated string, or array) become scopes.
    public var scopeClaims: [String]
    /// Longest accepted lifetime: a token whose `exp` is further than this from now (or from its `iat`) is refused,
    /// whatever its signature (a token meant to live for years is a stolen key's best friend).
    public var maxTokenLifetime: Duration
    /// Multi-tenant issuers (`{tenantid}`, `common`, `organizations`): when not empty, the token's `tid` must be one
    /// of these (compared case-insensitively) and its `iss` must be an issuer of that very tenant.
    public var allowedTenants: [String]
    /// What the caller calls these settings, for the fix a refusal names.
    public var names: TokenValidationSettingNames

    public init(issuers: [String], audiences: [String], algorithms: Set<JWSAlgorithm> = [.rs256, .ps256, .es256],
                leeway: Duration = .seconds(60), maxTokenLength: Int = 16 * 1024,
                roleClaims: [String] = ["roles", "app_roles"], scopeClaims: [String] = ["scp"],
                maxTokenLifetime: Duration = .seconds(86_400), allowedTenants: [String] = [],
                names: TokenValidationSettingNames = .described) {
        self.issuers = issuers
        self.audiences = audiences
        self.algorithms = algorithms
        self.leeway = leeway
        self.maxTokenLength = maxTokenLength
        self.roleClaims = roleClaims
        self.scopeClaims = scopeClaims
        self.maxTokenLifetime = maxTokenLifetime
        self.allowedTenants = allowedTenants
        self.names = names
    }

    /// For a Microsoft Entra IdP: the configured issuer plus both Entra forms of its tenant:
    /// v1 `https://sts.windows.net/{tid}/` and v2 `https://login.microsoftonline.com/{tid}/v2.0`. The tenant is
    /// the first path segment of the configured issuer (works for the emulator's `https://localhost:9443/{tid}/v2.0` too).
    public static func microsoftIssuers(configured: String) -> [String] {
        var issuers = [configured]
        guard let tenant = URLComponents(string: configured)?.path.split(separator: "/").first.map(String.init),
              !tenant.isEmpty
        else { return issuers }
        for issuer in ["https://sts.windows.net/\(tenant)/", "https://login.microsoftonline.com/\(tenant)/v2.0"]
        where !issuers.contains(issuer) {
            issuers.append(issuer)
        }
        return issuers
    }

    // MARK: - Multi-tenant issuers

    /// The tenant placeholders of Entra's multi-tenant endpoints: a configured issuer (or a discovery document's
    /// `issuer`) with one of these as its tenant segment matches no token as it stands (Entra never issues a token with
    /// `iss` `…/common/v2.0`; the discovery document of `common` names `…/{tenantid}/v2.0`).
    public static let tenantPlaceholders = ["{tenantid}", "common", "organizations"]

    /// The placeholder in `issuer`'s first path segment (or anywhere, for `{tenantid}`), if any.
    public static func tenantPlaceholder(in issuer: String) -> String? {
        if issuer.range(of: "{tenantid}", options: .caseInsensitive) != nil { return "{tenantid}" }
        guard let segment = URLComponents(string: issuer)?.path.split(separator: "/").first.map({ $0.lowercased() }),
              tenantPlaceholders.contains(segment)
        else { return nil }
        return segment
    }

    /// The accepted issuers for a multi-tenant `template`: for each tenant, `template` with its placeholder replaced
    /// by the tenant, and with `microsoft` also Entra's v1 and v2 forms of that tenant.
    public static func multiTenantIssuers(template: String, tenants: [String], microsoft: Bool) -> [String] {
        var issuers: [String] = []
        func add(_ issuer: String) { if !issuers.contains(issuer) { issuers.append(issuer) } }
        for tenant in tenants {
            add(substituting(tenant, into: template))
            if microsoft {
                add("https://sts.windows.net/\(tenant)/")
                add("https://login.microsoftonline.com/\(tenant)/v2.0")
            }
        }
        return issuers
    }

    /// `template` with its tenant placeholder replaced by `tenant` (unchanged when it has none).
    public static func substituting(_ tenant: String, into template: String) -> String {
        if let range = template.range(of: "{tenantid}", options: .caseInsensitive) {
            return template.replacingCharacters(in: range, with: tenant)
        }
        guard var components = URLComponents(string: template) else { return template }
        var segments = components.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // A path "/common/v2.0" splits as ["", "common", "v2.0"].
        guard let index = segments.firstIndex(where: { !$0.isEmpty }),
              tenantPlaceholders.contains(segments[index].lowercased())
        else { return template }
        segments[index] = tenant
        components.path = segments.joined(separator: "/")
        return components.string ?? template
    }
}
