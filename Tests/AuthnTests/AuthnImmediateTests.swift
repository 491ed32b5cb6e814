import AuthProtocol
import Crypto
import DevPKI
import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceSupport
import Testing
import SwiftASN1
import WireFormat
import X509

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
        var immediate: AuthnImmediate { AuthnImmediate(answers: answers, verdicts: verdicts, keyRemovals: keyRemovals, decisions: nil) }

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
}
