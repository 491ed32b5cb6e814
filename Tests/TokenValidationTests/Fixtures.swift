import AuthProtocol
import JOSE
import Crypto
import Foundation
import Keystore
import Logging
import Synchronization
import TestSupport
import TokenValidation
import _CryptoExtras
import WireFormat

// MARK: - Keys and JWKS

/// A signing key with its kid, as an IdP holds it.
struct IdPKey: Sendable {
    var kid: String
    var key: SigningKey
    /// The JWK's `alg`, if the JWKS should carry one.
    var jwkAlgorithm: String?

    static func rsa(_ kid: String, alg: String? = nil) throws -> IdPKey {
        IdPKey(kid: kid, key: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)), jwkAlgorithm: alg)
    }

    static func p256(_ kid: String, alg: String? = nil) -> IdPKey {
        IdPKey(kid: kid, key: .p256(P256.Signing.PrivateKey()), jwkAlgorithm: alg)
    }

    /// The public JWK (what the IdP publishes).
    var jwk: JSONValue {
        get throws {
            guard var members = try key.verificationKey?.jwkMembers() else {
                throw JWSError("P-384 keys are not published in these tests")
            }
            members["kid"] = .string(kid)
            members["use"] = .string("sig")
            if let jwkAlgorithm { members["alg"] = .string(jwkAlgorithm) }
            return .object(members)
        }
    }
}

func jwksDocument(_ keys: [JSONValue]) throws -> [UInt8] {
    Array(try JSONEncoder().encode(JSONValue.object(["keys": .array(keys)])))
}

func jwksDocument(_ keys: [IdPKey]) throws -> [UInt8] {
    try jwksDocument(keys.map { try $0.jwk })
}

/// The IdP's JWKS endpoint: serves a document that tests change, counts fetches, can fail or hang.
final class FakeJWKSEndpoint: Sendable {
    enum Mode: Sendable { case serve, fail, hang }

    private struct State {
        var document: [UInt8]
        var mode: Mode = .serve
        var fetches = 0
        var hung: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ keys: [IdPKey]) throws {
        state = Mutex(State(document: try jwksDocument(keys)))
    }

    init(document: [UInt8]) {
        state = Mutex(State(document: document))
    }

    var fetches: Int { state.withLock { $0.fetches } }

    func publish(_ keys: [IdPKey]) throws {
        let document = try jwksDocument(keys)
        state.withLock { $0.document = document }
    }

    func set(_ mode: Mode) {
        state.withLock { $0.mode = mode }
    }

    /// Lets every hung fetch return (they then fail).
    func releaseHung() {
        let hung = state.withLock { state in
            defer { state.hung = [] }
            return state.hung
        }
        for continuation in hung { continuation.resume() }
    }

    /// The fetch closure for `KeySetCache`. A hung fetch ignores cancellation until `releaseHung()`.
    var fetch: @Sendable () async throws -> [UInt8] {
        { [self] in
            let (mode, document) = state.withLock { state in
                state.fetches += 1
                return (state.mode, state.document)
            }
            switch mode {
            case .serve:
                return document
            case .fail:
                throw JWSError("GET https://idp.example/keys answered 503")
            case .hang:
                await withCheckedContinuation { continuation in
                    state.withLock { $0.hung.append(continuation) }
                }
                throw JWSError("released after hanging")
            }
        }
    }
}

/// A monotonic clock the test moves by hand (for the refresh rate limit).
final class ManualInstant: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: @Sendable () -> ContinuousClock.Instant { { [self] in current.withLock { $0 } } }
    func advance(by duration: Duration) { current.withLock { $0 = $0.advanced(by: duration) } }
}

// MARK: - Tokens

enum Fixture {
    static let tenant = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
    static let api = "2622078b-0164-41ee-8794-3ff8d9f8e402"
    static let client = "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7"
    static let issuerV2 = "https://login.microsoftonline.com/\(tenant)/v2.0"
    static let issuerV1 = "https://sts.windows.net/\(tenant)/"
    /// A fixed "now" (2025-06-15T16:26:40Z); claims are relative to it.
    static let now = Date(timeIntervalSince1970: 1_750_004_800)
    static let nowSeconds = 1_750_004_800.0

    /// The caller's names for its settings: a refusal must name these (authn passes its `CAMUNDA_*` variables).
    static let settingNames = TokenValidationSettingNames(
        issuer: "TEST_ISSUER", audience: "TEST_AUDIENCE", jwkSetURI: "TEST_JWKS_URI", identityType: "TEST_IDP_TYPE",
        maxTokenLifetime: "TEST_MAX_LIFETIME", allowedTenants: "TEST_TENANTS")

    static let settings = TokenValidationSettings(issuers: TokenValidationSettings.microsoftIssuers(configured: issuerV2),
                                                  audiences: [api, "api://\(api)"], names: settingNames)

    /// Entra v2 app-only access token claims.
    static func v2Claims(_ changes: [String: JSONValue?] = [:]) -> [String: JSONValue] {
        apply(changes, to: [
            "aud": .string(api), "iss": .string(issuerV2), "iat": .number(nowSeconds - 60),
            "nbf": .number(nowSeconds - 60), "exp": .number(nowSeconds + 3600), "azp": .string(client),
            "azpacr": .string("2"), "oid": .string("b7ce1f4d-6c0b-4b1f-9c3c-1d2e0f0a1b2c"),
            "roles": .array([.string("Admin"), .string("Reader")]), "sub": .string("b7ce1f4d-6c0b-4b1f-9c3c-1d2e0f0a1b2c"),
            "tid": .string(tenant), "uti": .string("AbCdEf0123456789"), "ver": .string("2.0"),
        ])
    }

    /// Entra v1 app-only access token claims (api:// audience, appid).
    static func v1Claims(_ changes: [String: JSONValue?] = [:]) -> [String: JSONValue] {
        apply(changes, to: [
            "aud": .string("api://\(api)"), "iss": .string(issuerV1), "iat": .number(nowSeconds - 60),
            "nbf": .number(nowSeconds - 60), "exp": .number(nowSeconds + 3600), "appid": .string(client),
            "appidacr": .string("2"), "idp": .string(issuerV1), "oid": .string("b7ce1f4d"),
            "roles": .array([.string("Reader")]), "sub": .string("b7ce1f4d"), "tid": .string(tenant),
            "uti": .string("v1-uti"), "ver": .string("1.0"),
        ])
    }

    static func apply(_ changes: [String: JSONValue?], to claims: [String: JSONValue]) -> [String: JSONValue] {
        var claims = claims
        for (name, value) in changes { claims[name] = value }
        return claims
    }

    /// A token signed by `key` with its kid (or `kid`), `alg` defaulting to what fits the key.
    static func token(_ claims: [String: JSONValue], key: IdPKey, alg: JWSAlgorithm? = nil,
                      kid: String?? = .none) throws -> String {
        let algorithm = alg ?? (key.key.keyType == "EC" ? .es256 : .rs256)
        let header = JOSEHeader(alg: algorithm.rawValue, kid: kid ?? key.kid)
        return try JWS.sign(header: header, claims: claims, key: key.key)
    }

    /// A token with a hand-written header and payload; signed with `key` under `algorithm`, or with `signature`.
    static func handToken(header: String, payload: String, key: IdPKey? = nil, algorithm: JWSAlgorithm = .rs256,
                          signature: [UInt8]? = nil) throws -> String {
        let input = "\(Base64URL.encode(Array(header.utf8))).\(Base64URL.encode(Array(payload.utf8)))"
        let bytes: [UInt8]
        if let signature {
            bytes = signature
        } else if let key {
            bytes = try JWS.signature(for: Array(input.utf8), algorithm: algorithm, key: key.key)
        } else {
            bytes = Array(repeating: 7, count: 256)
        }
        return "\(input).\(Base64URL.encode(bytes))"
    }

    static func json(_ claims: [String: JSONValue]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(claims), as: UTF8.self)
    }
}

/// One IdP (keys + JWKS endpoint) and a validator over it.
struct Harness {
    let rsa: IdPKey
    let ec: IdPKey
    let endpoint: FakeJWKSEndpoint
    let keys: KeySetCache
    let validator: TokenValidator
    let logs: CapturedLogs

    init(settings: TokenValidationSettings = Fixture.settings, cacheSettings: KeySetCacheSettings = .init(),
         now: (@Sendable () -> ContinuousClock.Instant)? = nil, verifiedCache: VerifiedTokenCache? = nil,
         extraKeys: [IdPKey] = [], preload: Bool = true) async throws {
        rsa = try IdPKey.rsa("rsa-key-1")
        ec = IdPKey.p256("ec-key-1")
        endpoint = try FakeJWKSEndpoint([rsa, ec] + extraKeys)
        logs = CapturedLogs()
        let logger = logs.logger("token-validation-test")
        if let now {
            keys = KeySetCache(settings: cacheSettings, logger: logger, now: now, fetch: endpoint.fetch)
        } else {
            keys = KeySetCache(settings: cacheSettings, logger: logger, fetch: endpoint.fetch)
        }
        if preload { try await keys.refresh() }
        validator = TokenValidator(settings: settings, keys: keys, cache: verifiedCache)
    }

    /// The error `token` is refused with (nil when accepted).
    func refusal(_ token: String, now: Date = Fixture.now) async -> TokenValidationError? {
        do {
            _ = try await validator.validate(token, now: now)
            return nil
        } catch {
            return error
        }
    }
}
