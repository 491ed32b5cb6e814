// TEMPORARY API STUB on the authn branch: replaced by the tokenval branch's implementation at merge.
import AuthProtocol
import ClientAssertion
import Foundation
import Logging

public struct TokenValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case malformed, tooLarge, unsupportedAlgorithm, missingKeyID, unknownKeyID, algorithmKeyMismatch,
             invalidSignature, criticalHeader, invalidIssuer, invalidAudience, expired, missingExpiry,
             notYetValid, keysUnavailable
    }
    public var code: Code
    public var message: String
    public var description: String { message }
}
public struct JSONWebKey: Sendable { public var keyID: String; public var algorithm: JWSAlgorithm?; public var key: VerificationKey }
public struct KeySetCacheSettings: Sendable {
    public var refreshInterval: Duration
    public var minimumRefreshGap: Duration
    public var fetchTimeout: Duration
    public init(refreshInterval: Duration = .seconds(86_400), minimumRefreshGap: Duration = .seconds(10), fetchTimeout: Duration = .seconds(5)) {
        self.refreshInterval = refreshInterval; self.minimumRefreshGap = minimumRefreshGap; self.fetchTimeout = fetchTimeout
    }
}
public struct KeySetStatus: Sendable { public var keyCount: Int; public var lastSuccess: Date?; public var lastError: String? }
public actor KeySetCache {
    public init(settings: KeySetCacheSettings = .init(), logger: Logger, fetch: @escaping @Sendable () async throws -> [UInt8]) {}
    public func key(id: String) async throws(TokenValidationError) -> JSONWebKey { throw TokenValidationError(code: .keysUnavailable, message: "stub") }
    public func refresh() async throws(TokenValidationError) {}
    public func runPeriodicRefresh() async {}
    public var status: KeySetStatus { KeySetStatus(keyCount: 0) }
}
public struct TokenValidationSettings: Sendable {
    public var issuers: [String]
    public var audiences: [String]
    public var algorithms: Set<JWSAlgorithm>
    public var leeway: Duration
    public var maxTokenLength: Int
    public var roleClaims: [String]
    public var scopeClaims: [String]
    public init(issuers: [String], audiences: [String], algorithms: Set<JWSAlgorithm> = [.rs256, .ps256, .es256],
                leeway: Duration = .seconds(60), maxTokenLength: Int = 16 * 1024,
                roleClaims: [String] = ["roles", "app_roles"], scopeClaims: [String] = ["scp"]) {
        self.issuers = issuers; self.audiences = audiences; self.algorithms = algorithms; self.leeway = leeway
        self.maxTokenLength = maxTokenLength; self.roleClaims = roleClaims; self.scopeClaims = scopeClaims
    }
    public static func microsoftIssuers(configured: String) -> [String] { [configured] }
}
public struct ValidatedToken: Sendable {
    public var claims: [String: JSONValue]
    public var issuer: String
    public var subject: String?
    public var audiences: [String]
    public var clientID: String?
    public var tenantID: String?
    public var tokenID: String?
    public var keyID: String
    public var algorithm: JWSAlgorithm
    public var expiresAt: Date
    public var notBefore: Date?
    public var roles: [String]
    public var scopes: [String]
    public var confirmationThumbprint: String?
}
public actor VerifiedTokenCache {
    public init(capacity: Int = 10_000) {}
    public func lookup(_ token: String, now: Date) -> ValidatedToken? { nil }
    public func store(_ token: String, _ validated: ValidatedToken) {}
    public var count: Int { 0 }
}
public struct TokenValidator: Sendable {
    public init(settings: TokenValidationSettings, keys: KeySetCache, cache: VerifiedTokenCache? = nil) {}
    public func validate(_ token: String, now: Date = Date()) async throws(TokenValidationError) -> ValidatedToken {
        throw TokenValidationError(code: .keysUnavailable, message: "stub")
    }
}
