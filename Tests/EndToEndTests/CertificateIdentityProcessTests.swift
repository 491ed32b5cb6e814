import AsyncHTTPClient
import AuthProtocol
import CertificateValidation
import DevPKI
import Foundation
import NIOCore
import NIOHTTP1
import SwiftASN1
import Testing
import TestSupport
import X509

/// Identities a same-named certificate cannot spoof (issue 17 item 5), with the `roles` and `authn` binaries over
/// sockets: two trusted CAs with the same DN but different keys; a mapping rule pinned to the first CA's key
/// (`issuerSpkiSha256`) gives its role only to certificates that key signed; SAN and SPIFFE rules; default roles scoped
/// per trust anchor.
@Suite(.serialized)
struct CertificateIdentityProcessTests {
    static let admin = RolesProcessTests.admin

    @Test func aPinnedRuleRefusesTheSameDNFromAnotherCAWithTheSameName() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let dir = pki.directory

        // Two CAs, both "O=Partner, CN=Partner CA", different keys; each issues "CN=operate" with a SPIFFE ID.
        let first = try DevPKI.makeCA(commonName: "Partner CA", organization: "Partner")
        let second = try DevPKI.makeCA(commonName: "Partner CA", organization: "Partner")
        #expect(first.certificate.subject == second.certificate.subject)
        let subject = try DistinguishedName { OrganizationName("Partner"); CommonName("operate") }
        for (name, ca) in [("first", first), ("second", second)] {
            try Self.write(try ca.pem, "\(dir)/\(name)-ca.pem")
            let leaf = try DevPKI.issue(
                subject: subject, dnsNames: ["operate.partner.example"], uris: ["spiffe://partner.example/ns/prod/sa/operate"],
                usage: .client, issuer: ca)
            try Self.write(try leaf.pem, "\(dir)/\(name)-operate.crt")
            try Self.write(leaf.keyPEM, "\(dir)/\(name)-operate.key")
        }
        let pin = CertificateNames.spkiSHA256(first.certificate)

        let roles = try await ProcessTests.startBound(
            "roles", environment: pki.rolesEnvironment(database: try await TestDatabase.sqlite.freshEnvironment(directory: dir)),
            log: "\(dir)/roles.log")
        defer { roles.process.terminate(); roles.process.waitUntilExit() }
        let authn = try await ProcessTests.startBound("authn", environment: [
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_METHOD": "BASIC",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "\(dir)/first-ca.pem,\(dir)/second-ca.pem",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES": "ROLE_USER",
            // Callers under the second CA get no default role; those under the first keep ROLE_USER and get partner.
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR": "\(dir)/first-ca.pem=ROLE_USER,partner;\(dir)/second-ca.pem=",
            "CAMUNDA_ROLES_URL": "https://localhost:\(roles.port)",
            "CAMUNDA_AUTHN_RESOLVE_CACHE_TTL": "0",
        ], log: "\(dir)/authn.log")
        defer { authn.process.terminate(); authn.process.waitUntilExit() }

        let service = try pki.serviceClient("authn")
        try await Self.withShutdown(service) {
            func send(_ method: HTTPMethod, _ path: String, _ json: String? = nil) async throws -> Int {
                var request = HTTPClientRequest(url: "https://localhost:\(roles.port)\(path)")
                request.method = method
                for (name, value) in Self.admin { request.headers.add(name: name, value: value) }
                if let json { request.body = .bytes(ByteBuffer(string: json)) }
                let response = try await service.execute(request, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 1 << 20)
                return Int(response.status.code)
            }
            #expect(try await send(.POST, "/v2/roles", #"{"roleId": "operator", "name": "Operator"}"#) == 201)
            #expect(try await send(.POST, "/v2/roles", #"{"roleId": "workload", "name": "Workload"}"#) == 201)
            #expect(try await send(.POST, "/v2/roles", #"{"roleId": "dns", "name": "DNS"}"#) == 201)
            // The DN rule pinned to the first CA's key (hex), the SPIFFE rule pinned by base64url of the same digest.
            let base64url = Data(try #require(Self.bytes(hex: pin))).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(try await send(.POST, "/v2/mapping-rules", """
                {"mappingRuleId": "operate-dn", "name": "operate", "kind": "subject_dn", "claimValue": "CN=operate,O=Partner", "issuerSpkiSha256": "\(pin)"}
                """) == 201)
            #expect(try await send(.POST, "/v2/mapping-rules", """
                {"mappingRuleId": "operate-spiffe", "name": "operate workload", "kind": "spiffe_id", "claimValue": "spiffe://partner.example/ns/prod/sa/*", "issuerSpkiSha256": "\(base64url)"}
                """) == 201)
            // Unpinned: any trusted CA's certificate with that DNS name.
            #expect(try await send(.POST, "/v2/mapping-rules", """
                {"mappingRuleId": "operate-dns", "name": "operate dns", "kind": "san_dns", "claimValue": "*.partner.example"}
                """) == 201)
            // A pin on a claim rule, and a malformed pin, are refused.
            #expect(try await send(.POST, "/v2/mapping-rules", """
                {"mappingRuleId": "bad", "name": "bad", "claimName": "sub", "claimValue": "x", "issuerSpkiSha256": "\(pin)"}
                """) == 400)
            #expect(try await send(.POST, "/v2/mapping-rules", """
                {"mappingRuleId": "bad", "name": "bad", "kind": "subject_dn", "claimValue": "CN=x", "issuerSpkiSha256": "abc"}
                """) == 400)
            #expect(try await send(.PUT, "/v2/roles/operator/mapping-rules/operate-dn") == 204)
            #expect(try await send(.PUT, "/v2/roles/workload/mapping-rules/operate-spiffe") == 204)
            #expect(try await send(.PUT, "/v2/roles/dns/mapping-rules/operate-dns") == 204)
        }

        let url = "https://localhost:\(authn.port)/v2/authentication/me"
        let genuine = try await Self.me(pki, "first-operate", url)
        #expect(genuine.principal == "operate")
        #expect(Set(genuine.roles) == ["ROLE_USER", "partner", "operator", "workload", "dns"], "\(genuine.roles)")
        // Same DN, issuer with the same DN, another key: the pinned rules do not match; the unpinned SAN rule does.
        let impostor = try await Self.me(pki, "second-operate", url)
        #expect(impostor.principal == "operate")
        #expect(impostor.roles == ["dns"], "\(impostor.roles)")
    }

    static func me(_ pki: TestPKI, _ name: String, _ url: String) async throws -> PrincipalResponse {
        let client = try pki.pemClient(name)
        return try await withShutdown(client) {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status == .ok, "\(String(buffer: body))")
            return try JSONDecoder().decode(PrincipalResponse.self, from: Data(body.readableBytesView))
        }
    }

    static func withShutdown<T>(_ client: HTTPClient, _ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func write(_ text: String, _ path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CommandError("cannot write \(path)")
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
