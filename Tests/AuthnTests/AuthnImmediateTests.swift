import AuthProtocol
import CertificateValidation
import Crypto
import DevPKI
import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import Keystore
import Logging
import NIOCore
import ServiceSupport
import Testing
import SwiftASN1
import TokenValidation
import WireFormat
import X509
import _CryptoExtras

@testable import Authn

/// The lean path of authn (issue 16 item 2): an answer is repeated only for exactly the request that earned it, never
/// for a request the key cannot describe, and never past what it was made from.
@Suite struct AuthnImmediateTests {
    static let principal = PrincipalResponse(
        principal: "operate", authenticationMethod: .oidc, clientID: "operate", tenantID: nil, roles: ["Reader"],
        authorities: ["Reader"], expiresAt: nil)

    static func authentication(expiresIn: TimeInterval = 3600, method: AuthenticationMethod = .oidc, reusableUntil: Date? = nil) -> Authentication {
        var principal = Self.principal
        principal.authenticationMethod = method
        return Authentication(principal: principal, expiresAt: Date().addingTimeInterval(expiresIn), credential: "kid=k", reusableUntil: reusableUntil)
    }

    static func peer() throws -> PeerCertificate {
        let ca = try DevPKI.makeCA(commonName: "Lean CA")
        let leaf = try DevPKI.issue(subject: try DistinguishedName { CommonName("operate") }, usage: .client, issuer: ca)
        var serializer = DER.Serializer()
        try serializer.serialize(leaf.certificate)
        return PeerCertificate(certificate: leaf.certificate, sha256: Array(SHA256.hash(data: serializer.serializedBytes)))
    }

    struct Setup {
        let answers = AnswerCache<AuthnLeanAnswer>()
        let verdicts = CertificateVerdictCache()
        let keyRemovals = LeanInvalidation()
        var authenticator: Authenticator?
        var immediate: AuthnImmediate {
            AuthnImmediate(answers: answers, verdicts: verdicts, keyRemovals: keyRemovals, decisions: nil, authenticator: authenticator)
        }

        /// The route answered `fields` (from `peer`) with 200: kept as the route keeps it.
        func routeAnswered(
            _ path: String, _ fields: HTTPFields, peer: PeerCertificate?, authentication: Authentication = AuthnImmediateTests.authentication(),
            rolesTTL: Duration? = nil, generation: UInt64? = nil
        ) {
            let request = Request(head: HTTPRequest(method: .get, scheme: "https", authority: "authn", path: path, headerFields: fields), body: .init(buffer: ByteBuffer()))
            let body = ByteBuffer(bytes: authentication.principal.directJSON)
            let response = Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
            AuthnImmediate.keep(
                response, body: body, authentication: authentication, route: path == ProtocolPath.me ? .me : .forwardAuth,
                request: request, peerSHA256: peer?.sha256, verdictGeneration: generation ?? verdicts.generation,
                keyRemovalGeneration: keyRemovals.generation, rolesTTL: rolesTTL,
                in: answers)
        }

        func lean(_ path: String, _ fields: HTTPFields, peer: PeerCertificate?, method: HTTPRequest.Method = .get) -> ImmediateAnswer? {
            immediate.immediateAnswer(to: ImmediateRequest(
                served: HTTP2ServedRequest(method: method, scheme: "https", authority: "authn", path: path, headers: .init(fields), body: .init()),
                peer: peer))
        }
    }

    @Test func repeatsTheAnswerForTheSameTokenAndConnectionCertificateOnly() throws {
        let setup = Setup()
        let peer = try Self.peer()
        let other = try Self.peer()
        let token: HTTPFields = [.authorization: "Bearer t1"]
        setup.routeAnswered(ProtocolPath.me, token, peer: peer)
        let answer = try #require(setup.lean(ProtocolPath.me, token, peer: peer))
        #expect(answer.status == .ok)
        #expect(String(buffer: answer.body) == String(decoding: Self.principal.directJSON, as: UTF8.self))
        #expect(setup.lean(ProtocolPath.me, [.authorization: "Bearer t2"], peer: peer) == nil)
        #expect(setup.lean(ProtocolPath.me, token, peer: other) == nil, "a certificate-bound token depends on the connection's certificate")
        #expect(setup.lean(ProtocolPath.me, token, peer: nil) == nil)
        #expect(setup.lean(ProtocolPath.forwardAuth, token, peer: peer) == nil, "each route keeps its own answers")
        #expect(setup.lean(ProtocolPath.me, token, peer: peer, method: .post) == nil)
        #expect(setup.lean(ProtocolPath.me + "/", token, peer: peer) == nil)
    }

    @Test func requestsTheKeyCannotDescribeGoToTheRouter() throws {
        let setup = Setup()
        let peer = try Self.peer()
        setup.routeAnswered(ProtocolPath.me, [:], peer: peer)  // mTLS
        #expect(setup.lean(ProtocolPath.me, [:], peer: peer) != nil)
        for name in AuthnImmediate.routerOnlyFields {
            let field = HTTPField.Name(name)!
            #expect(setup.lean(ProtocolPath.me, [field: "x"], peer: peer) == nil, "\(name)")
            // Nor is such an answer kept by the route.
            let fresh = Setup()
            fresh.routeAnswered(ProtocolPath.me, [field: "x"], peer: peer)
            #expect(fresh.answers.count == 0, "\(name)")
        }
        // Two Authorization fields are read as one list by the router: never looked up by the first alone.
        let twice: HTTPFields = [.authorization: "Bearer t1", .authorization: "Bearer t2"]
        setup.routeAnswered(ProtocolPath.me, [.authorization: "Bearer t1"], peer: peer)
        #expect(setup.lean(ProtocolPath.me, twice, peer: peer) == nil)
        // No credentials at all (the anonymous flow) is never kept nor looked up.
        let anonymous = Setup()
        anonymous.routeAnswered(ProtocolPath.me, [:], peer: nil, authentication: Self.authentication(method: .anonymous))
        #expect(anonymous.answers.count == 0)
        #expect(anonymous.lean(ProtocolPath.me, [:], peer: nil) == nil)
    }

    @Test func forwardAuthKeysTheRequiredRole() throws {
        let setup = Setup()
        let token: HTTPFields = [.authorization: "Bearer t1", .authRequireRole: "Reader"]
        setup.routeAnswered(ProtocolPath.forwardAuth, token, peer: nil)
        #expect(setup.lean(ProtocolPath.forwardAuth, token, peer: nil) != nil)
        #expect(setup.lean(ProtocolPath.forwardAuth, [.authorization: "Bearer t1", .authRequireRole: "admin"], peer: nil) == nil)
        #expect(setup.lean(ProtocolPath.forwardAuth, [.authorization: "Bearer t1"], peer: nil) == nil)
    }

    @Test func aKeptAnswerEndsWithWhatItWasMadeFrom() async throws {
        let peer = try Self.peer()
        // The CRLs changed (the verdict cache was emptied): not repeated.
        let crl = Setup()
        crl.routeAnswered(ProtocolPath.me, [:], peer: peer)
        crl.verdicts.removeAll()
        #expect(crl.lean(ProtocolPath.me, [:], peer: peer) == nil)
        // A key left the IdP's JWKS: not repeated.
        let jwks = Setup()
        jwks.routeAnswered(ProtocolPath.me, [.authorization: "Bearer t1"], peer: nil)
        #expect(jwks.lean(ProtocolPath.me, [.authorization: "Bearer t1"], peer: nil) != nil)
        jwks.keyRemovals.bump()
        #expect(jwks.lean(ProtocolPath.me, [.authorization: "Bearer t1"], peer: nil) == nil)
        // A verdict that needed the client's own intermediates (reusableUntil in the past), an expired token, roles
        // answers not cached (TTL 0): not kept.
        for (authentication, ttl) in [
            (Self.authentication(reusableUntil: .distantPast), nil), (Self.authentication(expiresIn: -1), nil),
            (Self.authentication(), Duration.zero),
        ] as [(Authentication, Duration?)] {
            let setup = Setup()
            setup.routeAnswered(ProtocolPath.me, [:], peer: peer, authentication: authentication, rolesTTL: ttl)
            #expect(setup.answers.count == 0)
        }
        // The roles cache time bounds it.
        let short = Setup()
        short.routeAnswered(ProtocolPath.me, [:], peer: peer, rolesTTL: .milliseconds(50))
        #expect(short.lean(ProtocolPath.me, [:], peer: peer) != nil)
        try await Task.sleep(for: .milliseconds(120))
        #expect(short.lean(ProtocolPath.me, [:], peer: peer) == nil)
    }

    // MARK: - Tokens not seen before (answered without the router when the key is loaded)

    /// An IdP of one RS256 key, an authenticator over it (no roles service), and tokens signed by hand.
    struct IdP {
        static let issuer = "https://login.example/tenant/v2.0"
        static let audience = "api://certauth"
        let key: _RSA.Signing.PrivateKey
        let kid = "lean-key"
        let authenticator: Authenticator

        init(principalClaim: String? = nil, trustedProxy: PeerCertificate? = nil) async throws {
            key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let primitives = try key.publicKey.getKeyPrimitives()
            let jwks = try JSONSerialization.data(withJSONObject: ["keys": [[
                "kty": "RSA", "kid": kid, "use": "sig", "n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent),
            ]]])
            let keys = KeySetCache(logger: Logger(label: "test"), fetch: { Array(jwks) })
            try await keys.refresh()
            let oidc = OIDCSettings(issuers: [Self.issuer], issuer: Self.issuer, jwkSetURI: nil, audiences: [Self.audience], principalClaim: principalClaim)
            let tokens = TokenValidator(
                settings: TokenValidationSettings(issuers: oidc.issuers, audiences: oidc.audiences, roleClaims: oidc.roleClaims, scopeClaims: oidc.scopeClaims),
                keys: keys, cache: VerifiedTokenCache())
            var certificates: ClientCertificateAuthenticator?
            if let trustedProxy {
                certificates = ClientCertificateAuthenticator(
                    validator: ClientCertificateValidator(settings: CertificateValidationSettings(trustedCertificates: [])),
                    mapper: try SubjectPrincipalMapper(pattern: nil, setting: "CN"), configuredIntermediates: [],
                    cache: CertificateVerdictCache(), trustedProxies: [try #require(trustedProxy.certificate.sha256Hex)])
            }
            authenticator = Authenticator(
                oidc: oidc, tokens: tokens, certificates: certificates, defaultRoles: [], roles: nil,
                audit: AdminGrantAudit(logger: Logger(label: "test")), adminRoles: ["admin"])
        }

        func token(_ changes: [String: Any] = [:], kid: String? = nil, tamper: Bool = false) throws -> String {
            let now = Date().timeIntervalSince1970
            var claims: [String: Any] = [
                "iss": Self.issuer, "aud": Self.audience, "azp": "operate", "sub": "operate-sp", "tid": "tenant",
                "roles": ["Reader"], "iat": now - 10, "nbf": now - 10, "exp": now + 600, "jti": UUID().uuidString, "ver": "2.0",
            ]
            for (name, value) in changes { claims[name] = value }
            let header = try JSONSerialization.data(withJSONObject: ["alg": "RS256", "typ": "JWT", "kid": kid ?? self.kid])
            let payload = try JSONSerialization.data(withJSONObject: claims)
            let input = Base64URL.encode(Array(header)) + "." + Base64URL.encode(Array(payload))
            var signature = Array(try key.signature(for: Array(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation)
            if tamper { signature[0] ^= 1 }
            return input + "." + Base64URL.encode(signature)
        }
    }

    @Test func aNewTokenIsAnsweredOnTheLeanPathExactlyAsTheRouterAnswersIt() async throws {
        let idp = try await IdP()
        var setup = Setup()
        setup.authenticator = idp.authenticator
        let token = try idp.token()
        let fields: HTTPFields = [.authorization: "Bearer \(token)"]
        let lean = try #require(setup.lean(ProtocolPath.me, fields, peer: nil))
        // The router's verdict on the same token (the verified-token cache now knows it).
        let routed = try await idp.authenticator.authenticate(token: token, presentation: .caller(certificate: { nil }), trace: nil)
        #expect(String(buffer: lean.body) == String(decoding: routed.principal.directJSON, as: UTF8.self))
        #expect(lean.headers == AuthnImmediate.meHeaders)
        #expect(routed.principal.principal == "operate" && routed.principal.roles == ["Reader"])
        // First use: not kept (most tokens are never sent again); from the second on it is, as the router keeps it.
        #expect(setup.answers.count == 0)
        #expect(setup.lean(ProtocolPath.me, fields, peer: nil) != nil)
        #expect(setup.answers.count == 1)
        // Bearer in any case, spaces around the token: the router's reading.
        #expect(setup.lean(ProtocolPath.me, [.authorization: "bEaReR   \(try idp.token())  "], peer: nil) != nil)

        // forward-auth: the X-Auth-* fields of the router; a missing required role is the router's 403 to give.
        let second = try idp.token()
        let forward = try #require(setup.lean(ProtocolPath.forwardAuth, [.authorization: "Bearer \(second)", .authRequireRole: "Writer, Reader"], peer: nil))
        let routedSecond = try await idp.authenticator.authenticate(token: second, presentation: .caller(certificate: { nil }), trace: nil)
        #expect(forward.headers == (try idp.authenticator.callerHeaders(routedSecond)).with(cacheControl: "no-store"))
        #expect(setup.lean(ProtocolPath.forwardAuth, [.authorization: "Bearer \(try idp.token())", .authRequireRole: "admin"], peer: nil) == nil)
    }

    @Test func aNewTokenTheLeanPathCannotDecideGoesToTheRouter() async throws {
        let idp = try await IdP()
        var setup = Setup()
        setup.authenticator = idp.authenticator
        func lean(_ token: String, peer: PeerCertificate? = nil) -> ImmediateAnswer? {
            setup.lean(ProtocolPath.me, [.authorization: "Bearer \(token)"], peer: peer)
        }
        // Every refusal is the router's (its reason, trace id and log line): an altered signature, an expired token, a
        // key not loaded (the router fetches it), another scheme, a token naming no caller.
        #expect(lean(try idp.token(tamper: true)) == nil)
        #expect(lean(try idp.token(["exp": Date().timeIntervalSince1970 - 3600])) == nil)
        #expect(lean(try idp.token(["aud": "api://other"])) == nil)
        #expect(lean(try idp.token(kid: "not-loaded")) == nil)
        #expect(lean("not.a.token") == nil)
        #expect(setup.lean(ProtocolPath.me, [.authorization: "Basic \(try idp.token())"], peer: nil) == nil)
        #expect(lean(try idp.token(["azp": NSNull(), "sub": NSNull()])) == nil)
        // A certificate-bound token (RFC 8705): only with the connection's certificate of that thumbprint.
        let peer = try Self.peer()
        let other = try Self.peer()
        let bound = try idp.token(["cnf": ["x5t#S256": Base64URL.encode(peer.sha256)]])
        #expect(lean(bound, peer: nil) == nil)
        #expect(lean(bound, peer: other) == nil)
        #expect(lean(bound, peer: peer) != nil)
        // Seen before (by the refused attempts): kept, for that certificate only.
        #expect(setup.answers.count == 1)
        #expect(lean(bound, peer: other) == nil)
    }

    /// The route never takes a trusted proxy's own certificate for the caller's (it reads the forwarded one), so a
    /// token bound to the proxy's certificate and sent by the proxy without a forwarded certificate is refused there:
    /// the lean path must not accept it either.
    @Test func aTokenBoundToATrustedProxysOwnCertificateIsLeftToTheRoute() async throws {
        let proxy = try Self.peer()
        let idp = try await IdP(trustedProxy: proxy)
        var setup = Setup()
        setup.authenticator = idp.authenticator
        let bound = try idp.token(["cnf": ["x5t#S256": Base64URL.encode(proxy.sha256)]])
        #expect(setup.lean(ProtocolPath.me, [.authorization: "Bearer \(bound)"], peer: proxy) == nil)
        await #expect(throws: AuthenticationFailure.self) {
            _ = try await idp.authenticator.authenticate(token: bound, presentation: .caller(certificate: { nil }), trace: nil)
        }
        // An unbound token from the proxy is the proxy's own call: answered as the route answers it.
        #expect(setup.lean(ProtocolPath.me, [.authorization: "Bearer \(try idp.token())"], peer: proxy) != nil)
    }
}

extension HTTPFields {
    fileprivate func with(cacheControl value: String) -> HTTPFields {
        var fields = self
        fields[.cacheControl] = value
        return fields
    }
}
