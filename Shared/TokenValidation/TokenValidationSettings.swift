import ClientAssertion
import Foundation

/// What a token must look like to be accepted (DESIGN.md §5).
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

    public init(issuers: [String], audiences: [String], algorithms: Set<JWSAlgorithm> = [.rs256, .ps256, .es256],
                leeway: Duration = .seconds(60), maxTokenLength: Int = 16 * 1024,
                roleClaims: [String] = ["roles", "app_roles"], scopeClaims: [String] = ["scp"]) {
        self.issuers = issuers
        self.audiences = audiences
        self.algorithms = algorithms
        self.leeway = leeway
        self.maxTokenLength = maxTokenLength
        self.roleClaims = roleClaims
        self.scopeClaims = scopeClaims
    }

    /// For CAMUNDA_IDENTITY_TYPE=MICROSOFT: the configured issuer plus both Entra forms of its tenant:
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
}
