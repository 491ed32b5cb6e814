import AuthProtocol
import Crypto
import Foundation
import JOSE
import WireFormat

/// Validates bearer access tokens (JWS compact serialisation) against the IdP's JWKS and the settings: algorithm
/// allowlist, `kid` from the JWKS only (`jku`, `x5u`, `jwk`, `x5c` headers are never used), signature, `iss`, `aud`,
/// `exp`, `nbf`, `iat`. Errors name the cause and the fix and never contain the token.
public struct TokenValidator: Sendable {
    public let settings: TokenValidationSettings
    private let keys: KeySetCache
    private let cache: VerifiedTokenCache?
    /// Refusals made after the signature check, by token digest (only with `cache`: the digest is made for it).
    private let refusals = RefusedTokenCache()
    private let leeway: Double
    private let headers = JWSHeaderCache()
    /// The claims the checks read: ``Claim``'s, then the role claims, then the scope claims of the settings.
    private let claimNames: JSONReader.MemberNames
    /// `[audience]` for each configured audience: the `audiences` of a token with just that one, shared.
    private let singleAudiences: [[String]]
    /// `settings.maxTokenLifetime` in seconds.
    private let maxLifetime: Double

    /// - Parameter cache: when given, a token seen before (and not yet past its `exp`) is answered from it without
    ///   parsing or a signature check. Use one cache per validator.
    public init(settings: TokenValidationSettings, keys: KeySetCache, cache: VerifiedTokenCache? = nil) {
        self.settings = settings
        self.keys = keys
        self.cache = cache
        self.claimNames = JSONReader.MemberNames(Claim.allCases.map(\.name) + settings.roleClaims + settings.scopeClaims)
        self.singleAudiences = settings.audiences.map { [$0] }
        let (seconds, attoseconds) = settings.leeway.components
        self.leeway = Double(seconds) + Double(attoseconds) / 1e18
        let (lifetimeSeconds, lifetimeAttoseconds) = settings.maxTokenLifetime.components
        self.maxLifetime = Double(lifetimeSeconds) + Double(lifetimeAttoseconds) / 1e18
        if let cache {
            // A verdict is only as good as the key behind it: when a refresh drops a kid, so does the cache.
            keys.onKeysRemoved { removed in cache.remove(keyIDs: removed) }
        }
    }

    /// The token's claims and what they mean, if every check passes; otherwise the first failed check.
    public func validate(_ token: String, now: Date = Date()) async throws(TokenValidationError) -> ValidatedToken {
        switch try prepare(token, now: now) {
        case .known(let hit):
            return hit
        case .needsKey(let prepared):
            let key: JSONWebKey
            if let loaded = keys.loadedKey(id: prepared.kid) {
                key = loaded
            } else {
                key = try await keys.key(id: prepared.kid)
            }
            return try finish(prepared, key: key, now: now)
        }
    }

    /// ``validate(_:now:)`` without waiting: the same checks and answers when the token's signing key is loaded
    /// already (every token but the first of a new key), nil when the key must be fetched first. For the lean path
    /// (issue 16), which answers on the connection's event loop: this runs one JSON parse and one signature check,
    /// bounded by ``TokenValidationSettings/maxTokenLength``, and never blocks.
    public func validateWithLoadedKeys(_ token: String, now: Date = Date()) throws(TokenValidationError) -> ValidatedToken? {
        switch try prepare(token, now: now) {
        case .known(let hit):
            return hit
        case .needsKey(let prepared):
            guard let key = keys.loadedKey(id: prepared.kid) else { return nil }
            return try finish(prepared, key: key, now: now)
        }
    }

    /// A token read up to its key: read by the strict JWS reader, header checked, cache missed.
    private struct Prepared {
        var jws: StrictJWS
        var kid: String
        var cacheKey: SHA256Digest?
    }

    private enum Preparation {
        /// The verified-token cache knew the token.
        case known(ValidatedToken)
        case needsKey(Prepared)
    }

    /// Everything before the key: the length limit, the verified-token cache, the strict read of the JWS (``StrictJWS``:
    /// parts, header, algorithm allowlist, `crit`), and the access-token header checks (`typ`, `kid`).
    private func prepare(_ token: String, now: Date) throws(TokenValidationError) -> Preparation {
        let length = token.utf8.count
        guard length <= settings.maxTokenLength else {
            throw TokenValidationError(
                .tooLarge,
                "token is \(length) bytes, over the limit of \(settings.maxTokenLength); it is refused unread — "
                    + "send the access token alone in 'Authorization: Bearer'")
        }
        let cacheKey = cache.map { _ in VerifiedTokenCache.key(token) }
        if let cache, let cacheKey, var hit = cache.lookup(key: cacheKey, now: now) {
            hit.seenBefore = true
            return .known(hit)
        }
        if let cacheKey, let refused = refusals.lookup(key: cacheKey, now: now) { throw refused }
        let jws: StrictJWS
        do {
            jws = try StrictJWS(parsing: token, maxLength: settings.maxTokenLength, algorithms: settings.algorithms,
                                headers: headers)
        } catch {
            throw TokenValidationError(error)
        }
        let header = jws.header
        if let typ = header.typ, !Self.accessTokenTypes.contains(typ.lowercased()) {
            throw TokenValidationError(
                .wrongTokenType,
                "token header 'typ' is \(quoted(typ)), not an access token's (JWT, at+jwt or application/at+jwt); "
                    + "the value sent is another kind of JWT — send the access token from the IdP's token response")
        }
        guard let kid = header.kid, !kid.isEmpty else {
            throw TokenValidationError(
                .missingKeyID,
                "token header has no 'kid'; the signing key is looked up by kid in the IdP's JWKS only — make sure the "
                    + "token comes from the configured IdP (Entra and Keycloak always set kid)")
        }
        return .needsKey(Prepared(jws: jws, kid: kid, cacheKey: cacheKey))
    }

    /// Everything from the key on: the key fits the algorithm, the signature, the claims, the cache; a refusal is
    /// remembered (``RefusedTokenCache``).
    private func finish(_ prepared: Prepared, key: JSONWebKey, now: Date) throws(TokenValidationError) -> ValidatedToken {
        do {
            return try checkWithKey(prepared, key: key, now: now)
        } catch {
            if let cacheKey = prepared.cacheKey { refusals.store(key: cacheKey, error, now: now) }
            throw error
        }
    }

    private func checkWithKey(_ prepared: Prepared, key: JSONWebKey, now: Date) throws(TokenValidationError) -> ValidatedToken {
        let jws = prepared.jws, algorithm = jws.algorithm
        do {
            try key.check(algorithm)
        } catch {
            throw TokenValidationError(error)
        }
        guard JWS.verify(jws, key: key.key) else {
            throw TokenValidationError(
                .invalidSignature,
                "token signature does not verify with key \(quoted(prepared.kid)) (\(algorithm.rawValue)); the token was altered "
                    + "or not signed by the IdP — get a new token from the configured IdP")
        }
        let claims = try decodeClaims(jws.payload)
        let validated = try check(claims, payload: jws.payload, key: key, algorithm: algorithm, now: now)
        if let cache, let cacheKey = prepared.cacheKey, now < validated.expiresAt {
            cache.store(key: cacheKey, validated)
            // A refresh that removed the key while this token was being checked has already swept the cache; take
            // back what was stored after the sweep.
            if keys.loadedKey(id: validated.keyID) == nil { cache.remove(key: cacheKey) }
        }
        return validated
    }

    // MARK: - Header

    /// Accepted header `typ` values, lowercased: RFC 7519 `JWT` (with RFC 7515's optional `application/` prefix),
    /// and RFC 9068 `at+jwt`.
    private static let accessTokenTypes: Set<String> = ["jwt", "application/jwt", "at+jwt", "application/at+jwt"]

    // MARK: - Claims

    /// The claims the checks read (one name per case; `clientID` is `client_id`).
    private enum Claim: Int, CaseIterable {
        case iss, aud, exp, nbf, iat, sub, azp, appid, clientID, tid, jti, uti, cnf
        /// ID-token claims (OpenID Connect Core §2, §3.1.3.6, §3.3.2.11) and Keycloak's token kind (`typ`).
        case nonce, atHash, cHash, typ

        var name: String {
            switch self {
            case .iss: "iss"
            case .aud: "aud"
            case .exp: "exp"
            case .nbf: "nbf"
            case .iat: "iat"
            case .sub: "sub"
            case .azp: "azp"
            case .appid: "appid"
            case .clientID: "client_id"
            case .tid: "tid"
            case .jti: "jti"
            case .uti: "uti"
            case .cnf: "cnf"
            case .nonce: "nonce"
            case .atHash: "at_hash"
            case .cHash: "c_hash"
            case .typ: "typ"
            }
        }
    }

    /// The values of `claimNames` in a payload.
    private struct Claims {
        var values: [JSONValue?]

        subscript(_ claim: Claim) -> JSONValue? { values[claim.rawValue] }
    }

    /// The claims the checks read, picked out of the payload by ``JSONReader/members(_:named:)`` (which refuses what
    /// `JSONReader.object` refuses, so ``ValidatedToken/claims`` can always read the payload back).
    private func decodeClaims(_ payload: [UInt8]) throws(TokenValidationError) -> Claims {
        guard let values = JSONReader.members(payload, named: claimNames) else {
            throw TokenValidationError(StrictJWS.malformedPayload)
        }
        return Claims(values: values)
    }

    /// The claims checked, as a ``ValidatedToken`` that keeps `payload` (not the dictionary). Strings equal to a
    /// configured issuer or audience, and the kid, are the configured (or JWKS) instances, so the 10,000 tokens of a
    /// full `VerifiedTokenCache` share one copy of each.
    private func check(_ claims: Claims, payload: [UInt8], key: JSONWebKey, algorithm: JWSAlgorithm,
                       now: Date) throws(TokenValidationError) -> ValidatedToken {
        try checkNotIDToken(claims)
        guard let issuer = claims[.iss]?.stringValue else {
            throw TokenValidationError(
                .invalidIssuer,
                "token has no string 'iss' claim; only tokens from \(quotedList(settings.issuers)) are accepted")
        }
        guard let issuerIndex = settings.issuers.firstIndex(of: issuer) else {
            throw TokenValidationError(
                .invalidIssuer,
                "token issuer \(quoted(issuer)) is not accepted; expected one of \(quotedList(settings.issuers)) — "
                    + "set \(settings.names.issuer) to the IdP's issuer (when \(settings.names.identityType) is MICROSOFT, the "
                    + "tenant's v1 and v2 issuers are both accepted)")
        }
        if !settings.allowedTenants.isEmpty {
            try checkTenant(claims[.tid], issuer: issuer)
        }
        let sentAudiences = claims[.aud]?.stringValues ?? []
        let audiences: [String]
        if sentAudiences.count == 1, let index = settings.audiences.firstIndex(of: sentAudiences[0]) {
            audiences = singleAudiences[index]
        } else {
            audiences = sentAudiences.map { sent in settings.audiences.first { $0 == sent } ?? sent }
        }
        guard audiences.contains(where: settings.audiences.contains) else {
            let sent = audiences.isEmpty ? "token has no 'aud' claim" : "token audience \(quotedList(audiences)) is not accepted"
            throw TokenValidationError(
                .invalidAudience,
                "\(sent); expected one of \(quotedList(settings.audiences)) — set \(settings.names.audience) to the "
                    + "API's client id (and its api:// URI if v1 tokens carry that), or request the token for this API "
                    + "(scope '<api client id>/.default')")
        }
        let current = now.timeIntervalSince1970
        guard let expiryValue = claims[.exp] else {
            throw TokenValidationError(
                .missingExpiry,
                "token has no 'exp' claim; tokens without an expiry are never accepted — the IdP must set exp")
        }
        guard let exp = expiryValue.numberValue, exp.isFinite else {
            throw TokenValidationError(
                .missingExpiry,
                "token 'exp' claim is not a number of seconds since 1970 (NumericDate); the token is refused")
        }
        guard current < exp + leeway else {
            throw TokenValidationError(
                .expired,
                "token expired at \(Self.rfc3339(exp)), \(Self.wholeSeconds(current - exp)) s ago (more than the "
                    + "\(Self.wholeSeconds(leeway)) s leeway); the client must get a new token — if it just did, check the clocks of "
                    + "the client, the IdP and this server")
        }
        let iat = try numericDate(claims[.iat], "iat")
        if exp - current > maxLifetime + leeway {
            throw TokenValidationError(
                .lifetimeTooLong,
                "token expires at \(Self.rfc3339(exp)), \(Self.wholeSeconds(exp - current)) s from now, more than the maximum "
                    + "token lifetime of \(Self.wholeSeconds(maxLifetime)) s; the token is refused — the IdP must issue "
                    + "shorter-lived access tokens (or raise \(settings.names.maxTokenLifetime))")
        }
        if let iat, exp - iat > maxLifetime + leeway {
            throw TokenValidationError(
                .lifetimeTooLong,
                "token lives \(Self.wholeSeconds(exp - iat)) s from iat \(Self.rfc3339(iat)) to exp \(Self.rfc3339(exp)), more "
                    + "than the maximum token lifetime of \(Self.wholeSeconds(maxLifetime)) s; the token is refused — the IdP "
                    + "must issue shorter-lived access tokens (or raise \(settings.names.maxTokenLifetime))")
        }
        let nbf = try numericDate(claims[.nbf], "nbf")
        if let nbf, nbf - leeway > current {
            throw TokenValidationError(
                .notYetValid,
                "token is not valid before \(Self.rfc3339(nbf)), \(Self.wholeSeconds(nbf - current)) s from now (more than the "
                    + "\(Self.wholeSeconds(leeway)) s leeway); check the clocks of the IdP and this server")
        }
        if let iat, iat - leeway > current {
            throw TokenValidationError(
                .notYetValid,
                "token was issued in the future (iat \(Self.rfc3339(iat)), \(Self.wholeSeconds(iat - current)) s from now, more than "
                    + "the \(Self.wholeSeconds(leeway)) s leeway); check the clocks of the IdP and this server")
        }
        return ValidatedToken(
            payload: payload, issuer: settings.issuers[issuerIndex], subject: claims[.sub]?.stringValue,
            audiences: audiences,
            clientID: (claims[.azp] ?? claims[.appid] ?? claims[.clientID])?.stringValue,
            tenantID: claims[.tid]?.stringValue,
            tokenID: (claims[.jti] ?? claims[.uti])?.stringValue,
            keyID: key.keyID, algorithm: algorithm,
            expiresAt: Date(timeIntervalSince1970: exp), notBefore: nbf.map(Date.init(timeIntervalSince1970:)),
            roles: Self.collect(claims.values[roleClaimSlots], splitSpaces: false),
            scopes: Self.collect(claims.values[scopeClaimSlots], splitSpaces: true),
            confirmationThumbprint: claims[.cnf]?.member("x5t#S256")?.stringValue)
    }

    /// ID tokens are for the client that signed a user in, never for an API: refused by their shape (OpenID Connect
    /// ID-token claims), whatever their `aud`. A Keycloak access token says `typ` "Bearer" (and Keycloak before 25
    /// copied the login's `nonce` into it), so `nonce` alone does not condemn a token that says so.
    private func checkNotIDToken(_ claims: Claims) throws(TokenValidationError) {
        let kind = claims[.typ]?.stringValue
        var evidence: String?
        if let kind, kind.lowercased() == "id" {
            evidence = "claim 'typ' is 'ID'"
        } else if claims[.atHash] != nil {
            evidence = "it carries 'at_hash'"
        } else if claims[.cHash] != nil {
            evidence = "it carries 'c_hash'"
        } else if claims[.nonce] != nil, kind?.lowercased() != "bearer" {
            evidence = "it carries 'nonce'"
        }
        if let evidence {
            throw TokenValidationError(
                .wrongTokenType,
                "token is an OpenID Connect ID token (\(evidence)); an ID token is not an access token and is never "
                    + "accepted by an API — send the access token from the IdP's token response")
        }
    }

    /// Multi-tenant issuers: `tid` must be an allowed tenant, and `iss` that tenant's issuer.
    private func checkTenant(_ value: JSONValue?, issuer: String) throws(TokenValidationError) {
        let allowed = quotedList(settings.allowedTenants)
        guard let tid = value?.stringValue, !tid.isEmpty else {
            throw TokenValidationError(
                .invalidTenant,
                "token has no string 'tid' claim; with a multi-tenant issuer only tokens of the tenants \(allowed) "
                    + "(\(settings.names.allowedTenants)) are accepted")
        }
        guard settings.allowedTenants.contains(where: { $0.caseInsensitiveCompare(tid) == .orderedSame }) else {
            throw TokenValidationError(
                .invalidTenant,
                "token tenant \(quoted(tid)) is not allowed; expected one of \(allowed) — add the tenant to "
                    + "\(settings.names.allowedTenants) if its tokens are meant to be accepted")
        }
        guard issuer.range(of: tid, options: .caseInsensitive) != nil else {
            throw TokenValidationError(
                .invalidTenant,
                "token issuer \(quoted(issuer)) is not the issuer of its tenant \(quoted(tid)); the token is refused")
        }
    }

    private func numericDate(_ value: JSONValue?, _ name: String) throws(TokenValidationError) -> Double? {
        guard let value else { return nil }
        guard let number = value.numberValue, number.isFinite else {
            throw TokenValidationError(
                .malformed,
                "token '\(name)' claim is not a number of seconds since 1970 (NumericDate); the token is refused")
        }
        return number
    }

    /// Where the role and the scope claims are in `claimNames`.
    private var roleClaimSlots: Range<Int> {
        Claim.allCases.count..<(Claim.allCases.count + settings.roleClaims.count)
    }

    private var scopeClaimSlots: Range<Int> {
        roleClaimSlots.upperBound..<(roleClaimSlots.upperBound + settings.scopeClaims.count)
    }

    /// The string values of `claims` in order, deduplicated; strings are split at spaces when `splitSpaces` (OAuth
    /// scopes).
    private static func collect(_ claims: ArraySlice<JSONValue?>, splitSpaces: Bool) -> [String] {
        var values: [String] = []
        // A token carries a handful of roles or scopes: a linear search, and a set only past 16 values (a set for
        // each token cost more than the search).
        var seen: Set<String>?
        func add(_ value: String) {
            guard !value.isEmpty else { return }
            if var set = seen {
                seen = nil
                if set.insert(value).inserted { values.append(value) }
                seen = set
            } else if !values.contains(value) {
                values.append(value)
                if values.count == 16 { seen = Set(values) }
            }
        }
        for claim in claims {
            switch claim {
            case .string(let text)?:
                if splitSpaces {
                    for part in text.split(separator: " ") { add(String(part)) }
                } else {
                    add(text)
                }
            case .array(let items)?:
                for case .string(let text) in items { add(text) }
            default:
                continue
            }
        }
        return values
    }

    /// RFC 3339 for plausible dates (years 0001 to 9999), the raw number otherwise: claim values come from callers.
    static func rfc3339(_ seconds: Double) -> String {
        guard seconds > -62_135_596_800, seconds < 253_402_300_800 else { return "\(seconds)" }
        return RFC3339.string(Date(timeIntervalSince1970: seconds))
    }

    /// A whole number of seconds for messages, clamped so that absurd claim values cannot trap.
    static func wholeSeconds(_ seconds: Double) -> String {
        String(Int(max(-1e15, min(1e15, seconds.rounded(.towardZero)))))
    }
}
