import AsyncHTTPClient
import Foundation
import JOSE
import NIOCore
import NIOHTTP1
import ServiceClient
import ServiceSupport
import TokenValidation
import WireFormat

/// What the federated check of a client assertion decided.
public enum FederatedOutcome: Sendable {
    /// The token matched the named federated identity credential.
    case accepted(credential: String)
    case refused(EntraFailure)
}

/// Checks an external token presented as a client assertion against an app's federated identity credentials, the way
/// Entra does: the issuer must be one a credential names (only then is anything fetched from it), the signature must
/// verify with a key from the issuer's JWKS (found through its OIDC discovery document), and subject, audience and
/// validity time must match. Keys are cached per issuer for five minutes and fetched again for an unknown `kid` (at
/// most every 30 seconds per issuer).
public actor FederationVerifier {
    private let egress: EgressClients
    private let timeout: TimeAmount
    private var keySets: [String: (keys: [JSONWebKey], fetched: Date)] = [:]
    private static let cacheLifetime: TimeInterval = 300
    private static let refetchInterval: TimeInterval = 30
    private static let maximumDocument = 512 * 1024

    public init(egress: EgressClients, timeout: TimeAmount = .seconds(10)) {
        self.egress = egress
        self.timeout = timeout
    }

    /// The claims an external token is matched on.
    struct ExternalClaims: Decodable {
        var iss: String
        var sub: String?
        var audience: JWTAudience?
        var exp: Double?
        var nbf: Double?
        enum CodingKeys: String, CodingKey { case iss, sub, audience = "aud", exp, nbf }
        var aud: [String] { audience?.values ?? [] }
    }

    /// Whether `assertion` is an external token (its issuer is not the app itself), to be checked here rather than as
    /// a certificate credential's assertion.
    public static func isFederated(_ assertion: String, clientID: String) -> Bool {
        guard let jws = try? StrictJWS(parsing: assertion), let claims = try? jws.claims(as: ExternalClaims.self) else { return false }
        return claims.iss.lowercased() != clientID.lowercased()
    }

    public func verify(_ token: String, app: AppRegistration, now: Date, clockSkew: Int) async -> FederatedOutcome {
        let jws: StrictJWS
        let claims: ExternalClaims
        do {
            jws = try StrictJWS(parsing: token)
            claims = try jws.claims(as: ExternalClaims.self)
        } catch {
            return .refused(EntraFailure(refusing: error))
        }
        let subject = claims.sub ?? ""
        let audience = claims.aud.joined(separator: ", ")
        guard !app.federatedCredentials.isEmpty else {
            return .refused(EntraFailure(
                error: "invalid_request", code: 70021,
                message: "No matching federated identity record found for presented assertion. Assertion Issuer: '\(claims.iss)'. Assertion Subject: '\(subject)'. Assertion Audience: '\(audience)'."))
        }
        let byIssuer = app.federatedCredentials.filter { $0.issuer == claims.iss }
        guard !byIssuer.isEmpty else {
            return .refused(EntraFailure(
                status: 401, error: "invalid_client", code: 700211,
                message: "No matching federated identity record found for presented assertion issuer '\(claims.iss)'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"))
        }
        // The signature, with the issuer's keys: fetched only for an issuer a credential of this app names.
        let algorithm = jws.algorithm
        let keys: [JSONWebKey]
        switch await signingKeys(issuer: claims.iss, kid: jws.header.kid, now: now) {
        case .success(let found): keys = found
        case .failure(let failure): return .refused(failure)
        }
        let candidates = keys.filter { ($0.keyID == jws.header.kid || jws.header.kid == nil) && $0.accepts(algorithm) }
        guard candidates.contains(where: { JWS.verify(jws, key: $0.key) }) else {
            return .refused(EntraFailure(
                status: 401, error: "invalid_client", code: 700027,
                message: "Client assertion failed signature validation. No key of issuer '\(claims.iss)' with kid '\(jws.header.kid ?? "")' verifies the \(algorithm.rawValue) signature."))
        }
        let bySubject = byIssuer.filter { $0.subject == subject }
        guard !bySubject.isEmpty else {
            if byIssuer.contains(where: { $0.subject.lowercased() == subject.lowercased() }) {
                return .refused(EntraFailure(
                    status: 401, error: "invalid_client", code: 7002138,
                    message: "No matching federated identity record found for presented assertion subject '\(subject)'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."))
            }
            return .refused(EntraFailure(
                status: 401, error: "invalid_client", code: 700213,
                message: "No matching federated identity record found for presented assertion subject '\(subject)'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"))
        }
        guard let matched = bySubject.first(where: { credential in claims.aud.contains { credential.audiences.contains($0) } }) else {
            return .refused(EntraFailure(
                status: 401, error: "invalid_client", code: 700212,
                message: "No matching federated identity record found for presented assertion audience '\(audience)'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"))
        }
        let current = now.timeIntervalSince1970
        let skew = Double(clockSkew)
        guard let exp = claims.exp else {
            return .refused(EntraFailure(error: "invalid_request", code: 50027, message: "JWT token is invalid or is malformed (no 'exp')."))
        }
        if exp + skew < current || (claims.nbf.map { $0 - skew > current } ?? false) {
            return .refused(EntraFailure(
                status: 401, error: "invalid_client", code: 700024,
                message: "Client assertion is not within its valid time range. Current time: \(RFC3339.string(now)), assertion valid from \(claims.nbf.map { RFC3339.string(Date(timeIntervalSince1970: $0)) } ?? "-"), expiry time of assertion \(RFC3339.string(Date(timeIntervalSince1970: exp))). Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials ."))
        }
        return .accepted(credential: matched.name)
    }

    /// The issuer's signing keys: cached, fetched again when stale or when `kid` is unknown (rate-limited).
    private func signingKeys(issuer: String, kid: String?, now: Date) async -> Result<[JSONWebKey], EntraFailure> {
        if let cached = keySets[issuer] {
            let fresh = now.timeIntervalSince(cached.fetched) < Self.cacheLifetime
            let known = kid.map { kid in cached.keys.contains { $0.keyID == kid } } ?? true
            if fresh && (known || now.timeIntervalSince(cached.fetched) < Self.refetchInterval) {
                return .success(cached.keys)
            }
        }
        do {
            let keys = try await fetchKeys(issuer: issuer)
            keySets[issuer] = (keys, now)
            return .success(keys)
        } catch {
            if let cached = keySets[issuer], now.timeIntervalSince(cached.fetched) < Self.cacheLifetime * 4 {
                return .success(cached.keys)
            }
            return .failure(EntraFailure(
                error: "invalid_request", code: 50166,
                message: "Request to External OIDC endpoint failed. Issuer '\(issuer)': \(error.reason)"))
        }
    }

    struct FetchError: Error {
        var reason: String
    }

    private func fetchKeys(issuer: String) async throws(FetchError) -> [JSONWebKey] {
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        let discoveryURL = base + "/.well-known/openid-configuration"
        let discovery = try await fetch(discoveryURL)
        guard let object = try? JSONSerialization.jsonObject(with: Data(discovery)) as? [String: Any],
              let jwksURI = object["jwks_uri"] as? String
        else {
            throw FetchError(reason: "the discovery document \(discoveryURL) has no jwks_uri")
        }
        if let named = object["issuer"] as? String, named != issuer {
            throw FetchError(reason: "the discovery document \(discoveryURL) names issuer '\(named)', not '\(issuer)'")
        }
        guard let url = URL(string: jwksURI), let scheme = url.scheme?.lowercased(),
              scheme == "https" || (scheme == "http" && ["localhost", "127.0.0.1", "::1"].contains(url.host ?? ""))
        else {
            throw FetchError(reason: "jwks_uri '\(jwksURI.prefix(200))' is not an https URL")
        }
        let document = try await fetch(jwksURI)
        do {
            let parsed = try JSONWebKeySetParser.parse(document)
            guard !parsed.keys.isEmpty else { throw FetchError(reason: "the JWKS at \(jwksURI) holds no usable key") }
            return parsed.keys
        } catch let error as FetchError {
            throw error
        } catch {
            throw FetchError(reason: "the JWKS at \(jwksURI) cannot be read: \(error)")
        }
    }

    private func fetch(_ url: String) async throws(FetchError) -> [UInt8] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let (http, proxy) = egress.client(for: url)
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: timeout)
            } catch {
                throw FetchError(reason: "\(url) cannot be fetched\(proxy.map { " through proxy \($0.description) (\($0.variable))" } ?? "") (\(String(describing: error).prefix(200)))")
            }
            guard response.status == .ok else {
                throw FetchError(reason: "\(url) answered HTTP \(response.status.code)")
            }
            let body = try await response.body.collect(upTo: Self.maximumDocument)
            return Array(body.readableBytesView)
        } catch let error as FetchError {
            throw error
        } catch {
            throw FetchError(reason: "\(url) cannot be fetched (\(String(describing: error).prefix(200)))")
        }
    }
}
