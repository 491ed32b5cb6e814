import CertificateValidation
import Crypto
import Foundation
import JOSE
import Keystore
import WireFormat
import X509
import _CryptoExtras

/// An Entra-shaped failure: HTTP status, OAuth error, AADSTS code and message.
public struct EntraFailure: Error, Sendable, Equatable {
    public var status: Int
    public var error: String
    public var code: Int
    public var message: String

    public init(status: Int = 400, error: String, code: Int, message: String) {
        self.status = status
        self.error = error
        self.code = code
        self.message = message
    }

    /// A JWS the strict reader (or the key check) refused, as Entra answers it: AADSTS5002730 for an algorithm that is
    /// refused or does not fit the key, AADSTS50027 for the rest; the reader's own message in parentheses.
    init(refusing jws: JWSError) {
        switch jws.code {
        case .unsupportedAlgorithm, .algorithmKeyMismatch:
            self.init(error: "invalid_request", code: 5002730,
                      message: "Invalid JWT token. Unsupported key for the signing algorithm (\(jws.message)).")
        default:
            self.init(error: "invalid_request", code: 50027, message: "JWT token is invalid or is malformed (\(jws.message)).")
        }
    }
}

/// The client certificate presented in the TLS handshake of a token request, and whether its chain reached
/// `ENTRA_EMULATOR_CLIENT_CA`.
public struct PresentedCertificate: Sendable {
    public enum Verification: Sendable {
        /// The verified chain, leaf first, ending at the trust anchor.
        case trusted(chain: [Certificate])
        /// Why the chain was not accepted.
        case untrusted(reason: String)
    }

    public var leaf: Certificate
    /// `x5t#S256` of the leaf (base64url SHA-256 of its DER).
    public var thumbprint: String
    public var verification: Verification

    public init(leaf: Certificate, thumbprint: String, verification: Verification) {
        self.leaf = leaf
        self.thumbprint = thumbprint
        self.verification = verification
    }
}

/// What a successful token request produced.
public struct IssuedToken: Sendable {
    public var accessToken: String
    public var expiresIn: Int
    public var clientID: String
}

/// The token endpoint's checks, in Entra's order, and token minting. Pure apart from the keys and clock passed in.
public struct TokenEndpointLogic: Sendable {
    public var registry: AppRegistry
    public var issuerBase: String
    public var tokenLifetime: Int
    public var clockSkew: Int

    public init(registry: AppRegistry, issuerBase: String, tokenLifetime: Int, clockSkew: Int) {
        self.registry = registry
        self.issuerBase = issuerBase
        self.tokenLifetime = tokenLifetime
        self.clockSkew = clockSkew
    }

    /// The issuer of tokens for `tenant`: `<base>/<tenant>/v2.0`.
    public func issuer(tenant: String) -> String { "\(issuerBase)/\(tenant)/v2.0" }

    /// Checks the request and, when it passes, mints an access token signed with `key`.
    public func handle(
        tenant: String, form: [String: String], basicAuth: (String, String)?, key: SigningKeys.Key, now: Date,
        presented: PresentedCertificate? = nil, federated: FederatedOutcome? = nil
    ) throws(EntraFailure) -> IssuedToken {
        guard tenant.lowercased() == registry.tenantID.lowercased() else {
            throw EntraFailure(error: "invalid_request", code: 90002,
                               message: "Tenant '\(tenant)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
        }
        guard let grantType = form["grant_type"] else {
            throw EntraFailure(error: "invalid_request", code: 900144,
                               message: "The request body must contain the following parameter: 'grant_type'.")
        }
        guard grantType == "client_credentials" else {
            throw EntraFailure(error: "unsupported_grant_type", code: 70003,
                               message: "The app requested an unsupported grant type '\(grantType)'.")
        }
        guard let clientID = form["client_id"] ?? basicAuth?.0 else {
            throw EntraFailure(error: "invalid_request", code: 900144,
                               message: "The request body must contain the following parameter: 'client_id'.")
        }
        guard let app = registry.apps[clientID.lowercased()] else {
            throw EntraFailure(error: "unauthorized_client", code: 700016,
                               message: "Application with identifier '\(clientID)' was not found in the directory '\(registry.tenantID)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
        }
        guard let scope = form["scope"], !scope.isEmpty else {
            throw EntraFailure(error: "invalid_request", code: 900144,
                               message: "The request body must contain the following parameter: 'scope'.")
        }
        let scopes = scope.split(separator: " ")
        guard scopes.count == 1, let only = scopes.first, only.hasSuffix("/.default") else {
            throw EntraFailure(error: "invalid_scope", code: 70011,
                               message: "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope \(scope) is not valid. The .default suffix is required for the client credentials flow.")
        }
        let resourceID = String(only.dropLast("/.default".count))
        guard let resource = resolveResource(resourceID) else {
            throw EntraFailure(error: "invalid_resource", code: 500011,
                               message: "The resource principal named \(resourceID) was not found in the tenant named \(registry.tenantID). This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")
        }

        let authenticationLevel: String
        if let policy = app.tlsClientAuth {
            try checkTLSClientAuth(policy, app: app, presented: presented)
            authenticationLevel = "2"
        } else if let assertion = form["client_assertion"] {
            guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
                throw EntraFailure(error: "invalid_request", code: 50027,
                                   message: "Invalid client_assertion_type; expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
            }
            switch federated {
            case .refused(let failure)?:
                throw failure
            case .accepted?:
                break
            case nil:
                try checkAssertion(assertion, app: app, tenant: tenant, now: now)
            }
            authenticationLevel = "2"
        } else if let secret = form["client_secret"] ?? basicAuth?.1 {
            guard app.clientSecrets.contains(where: { constantTimeEquals($0, secret) }) else {
                throw EntraFailure(status: 401, error: "invalid_client", code: 7000215,
                                   message: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(app.clientID)'.")
            }
            authenticationLevel = "1"
        } else {
            throw EntraFailure(status: 401, error: "invalid_client", code: 7000218,
                               message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }

        var confirmation: [String: String]?
        if app.certificateBoundTokens {
            guard let presented else {
                throw EntraFailure(error: "invalid_request", code: 7000218,
                                   message: "App '\(app.clientID)' receives certificate-bound access tokens (RFC 8705), but no client certificate was presented in the TLS handshake; call the mTLS token endpoint (mtls_endpoint_aliases.token_endpoint) with the client certificate.")
            }
            confirmation = ["x5t#S256": presented.thumbprint]
        }

        let issuedAt = Int(now.timeIntervalSince1970)
        let roles = app.appRolesGranted.first { $0.key.lowercased() == resource.clientID.lowercased() }?.value ?? []
        let claims = AccessTokenClaims(
            aud: resource.clientID, iss: issuer(tenant: registry.tenantID), iat: issuedAt, nbf: issuedAt,
            exp: issuedAt + tokenLifetime, aio: UUID().uuidString, azp: app.clientID, azpacr: authenticationLevel,
            oid: app.objectID, roles: roles.isEmpty ? nil : roles, sub: app.objectID, tid: registry.tenantID,
            uti: Base64URL.encode(Array(UUID().uuidString.utf8).prefix(16)), ver: "2.0", cnf: confirmation)
        let header = JOSEHeader(alg: "RS256", typ: "JWT", kid: key.kid)
        let token: String
        do {
            token = try JWS.sign(header: header, claims: claims, key: .rsa(key.privateKey))
        } catch {
            throw EntraFailure(status: 500, error: "server_error", code: 50000, message: "There was an error issuing a token.")
        }
        return IssuedToken(accessToken: token, expiresIn: tokenLifetime, clientID: app.clientID)
    }

    /// RFC 8705 `tls_client_auth`: a client certificate whose chain reached the configured CA, and a subject DN that
    /// matches the registration (the leaf's, or with chain match `any` any certificate of the chain below the anchor).
    func checkTLSClientAuth(_ policy: TLSClientAuthPolicy, app: AppRegistration, presented: PresentedCertificate?) throws(EntraFailure) {
        guard let presented else {
            throw EntraFailure(status: 401, error: "invalid_client", code: 7000218,
                               message: "Client certificate missing: app '\(app.clientID)' authenticates with tls_client_auth, and no client certificate was presented in the TLS handshake. Present the certificate whose subject matches '\(policy.subjectDN)' (token-issuer: CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_AUTHENTICATION_METHOD=tls_client_auth).")
        }
        let chain: [Certificate]
        switch presented.verification {
        case .untrusted(let reason):
            throw EntraFailure(status: 401, error: "invalid_client", code: 700027,
                               message: "Client certificate not trusted: \(reason)")
        case .trusted(let verified):
            chain = verified
        }
        let candidates: [Certificate]
        switch policy.chainMatch {
        case .leaf: candidates = [presented.leaf]
        case .any: candidates = chain.count > 1 ? Array(chain.dropLast()) : chain
        }
        let subjects = candidates.map { DistinguishedNameFormat.string($0.subject) }
        guard subjects.contains(where: policy.matches(subject:)) else {
            let scope = policy.chainMatch == .leaf ? "the client certificate's subject does not match" : "no certificate of the chain matches"
            throw EntraFailure(status: 401, error: "invalid_client", code: 700027,
                               message: "Certificate subject DN does not match: app '\(app.clientID)' expects \(policy.dnMatch == .exact ? "exactly" : "a full match of the pattern") '\(policy.subjectDN)' (chain match: \(policy.chainMatch.rawValue)), and \(scope); presented: \(subjects.map { "'\($0)'" }.joined(separator: ", ")).")
        }
    }

    /// Microsoft Graph as a resource (`https://graph.microsoft.com/.default`), for the tokens of Graph addKey/removeKey.
    public static let graph = AppRegistration(
        clientID: GraphResource.appID, name: "Microsoft Graph", certificates: [], clientSecrets: [], appRolesGranted: [:],
        appRoles: [], objectID: AppRegistry.stableUUID("Microsoft Graph"))

    func resolveResource(_ identifier: String) -> AppRegistration? {
        let id = identifier.lowercased()
        if GraphResource.identifiers.contains(id) { return Self.graph }
        if let app = registry.apps[id] { return app }
        if id.hasPrefix("api://"), let app = registry.apps[String(id.dropFirst("api://".count))] { return app }
        return nil
    }

    /// Entra's checks of a certificate credential assertion. The assertion is read by the suite's one strict JWS reader
    /// (``StrictJWS``), so it is refused for the same reasons, with the same words, as authn refuses a bearer token.
    func checkAssertion(_ token: String, app: AppRegistration, tenant: String, now: Date) throws(EntraFailure) {
        let jws: StrictJWS
        let claims: LenientAssertionClaims
        do {
            jws = try StrictJWS(parsing: token)
            claims = try jws.claims(as: LenientAssertionClaims.self)
        } catch {
            throw EntraFailure(refusing: error)
        }
        guard let registered = app.certificate(namedBy: jws.header) else {
            let thumbprint = jws.header.x5tS256 ?? jws.header.x5t ?? "none"
            throw EntraFailure(status: 401, error: "invalid_client", code: 700027,
                               message: "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '\(thumbprint)', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '\(app.clientID)'.]")
        }
        guard let key = Self.verificationKey(registered.certificate) else {
            throw EntraFailure(status: 401, error: "invalid_client", code: 700027,
                               message: "Client assertion failed signature validation.")
        }
        do {
            try JWS.checkFit(jws.algorithm, key: key, keyID: jws.header.kid ?? registered.x5tS256)
        } catch {
            throw EntraFailure(refusing: error)
        }
        guard JWS.verify(jws, key: key) else {
            throw EntraFailure(status: 401, error: "invalid_client", code: 700027,
                               message: "Client assertion failed signature validation.")
        }
        guard claims.iss == app.clientID, claims.sub == app.clientID else {
            throw EntraFailure(status: 401, error: "invalid_client", code: 700021,
                               message: "Client assertion application identifier doesn't match 'client_id' parameter.")
        }
        let validAudiences = [
            "\(issuerBase)/\(tenant)/oauth2/v2.0/token", "\(issuerBase)/\(tenant)/oauth2/token",
            "\(issuerBase)/\(registry.tenantID)/oauth2/v2.0/token", "\(issuerBase)/\(registry.tenantID)/oauth2/token",
        ].map { $0.lowercased() }
        guard claims.aud.contains(where: { validAudiences.contains($0.lowercased()) }) else {
            throw EntraFailure(status: 401, error: "invalid_client", code: 700023,
                               message: "Client assertion audience claim does not match Realm issuer. Expected audience \(validAudiences[0]).")
        }
        let current = now.timeIntervalSince1970
        let skew = Double(clockSkew)
        guard let exp = claims.exp else {
            throw EntraFailure(error: "invalid_request", code: 50027, message: "JWT token is invalid or is malformed (no 'exp').")
        }
        if exp + skew < current || (claims.nbf.map { $0 - skew > current } ?? false) {
            throw EntraFailure(status: 401, error: "invalid_client", code: 700024,
                               message: "Client assertion is not within its valid time range. Current time: \(RFC3339.string(now)), assertion valid from \(claims.nbf.map { RFC3339.string(Date(timeIntervalSince1970: $0)) } ?? "-"), expiry time of assertion \(RFC3339.string(Date(timeIntervalSince1970: exp))).")
        }
        if now < registered.certificate.notValidBefore || now > registered.certificate.notValidAfter {
            throw EntraFailure(status: 401, error: "invalid_client", code: 1000502,
                               message: "The provided certificate with thumbprint \(registered.x5tS256) is not within its valid period.")
        }
    }

    static func verificationKey(_ certificate: Certificate) -> VerificationKey? {
        guard let key = _RSA.Signing.PublicKey(certificate.publicKey) else { return nil }
        return .rsa(key)
    }

    func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Assertion claims as clients send them: MSAL sends float timestamps, some send `aud` as an array.
struct LenientAssertionClaims: Decodable {
    var iss: String
    var sub: String
    var audience: JWTAudience
    var exp: Double?
    var nbf: Double?
    var jti: String?

    enum CodingKeys: String, CodingKey { case iss, sub, audience = "aud", exp, nbf, jti }

    var aud: [String] { audience.values }
}

/// Claims of an Entra v2 app-only access token.
struct AccessTokenClaims: Codable {
    var aud: String
    var iss: String
    var iat: Int
    var nbf: Int
    var exp: Int
    var aio: String
    var azp: String
    var azpacr: String
    var oid: String
    var roles: [String]?
    var sub: String
    var tid: String
    var uti: String
    var ver: String
    /// RFC 8705 §3 confirmation: `x5t#S256` of the client certificate the token is bound to.
    var cnf: [String: String]?
}

/// Microsoft Graph's identifiers as a resource.
public enum GraphResource {
    /// Graph's application id (the `aud` of its app-only tokens).
    public static let appID = "00000003-0000-0000-c000-000000000000"
    /// What a client may name it by in `scope`.
    public static let identifiers: Set<String> = [appID, "https://graph.microsoft.com", "https://graph.microsoft.com/"]
}
