@testable import Authn
import AuthProtocol
import CertificateValidation
import DevPKI
import Foundation
import ServiceSupport
import Settings
import Testing
import X509

/// The mTLS principal from the subject or a SAN / SPIFFE ID, and default roles scoped per trust anchor (issue 17
/// item 5).
struct MTLSIdentityTests {
    static let base = [
        "SERVER_SSL_KEY_STORE": "/certs/authn.p12", "SERVER_SSL_TRUST_STORE": "/certs/truststore.pem",
        "CAMUNDA_SECURITY_AUTHENTICATION_METHOD": "BASIC", "SERVER_SSL_CLIENT_AUTH": "want",
        "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
        "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "/certs/ca.pem",
    ]

    func configuration(_ values: [String: String]) throws(ConfigurationError) -> AuthnConfiguration {
        try AuthnConfiguration(environment: EnvironmentReader(Self.base.merging(values) { $1 }))
    }

    static let ca = Result { try DevPKI.makeCA(commonName: "Identity CA") }

    static func leaf(dns: [String] = [], uris: [String] = []) throws -> Certificate {
        try DevPKI.issue(
            subject: try DistinguishedName { CommonName("subject-cn") }, dnsNames: dns, uris: uris, usage: .client,
            issuer: try ca.get()).certificate
    }

    static let mapper = Result { try SubjectPrincipalMapper(pattern: nil, setting: "pattern") }

    func principal(_ leaf: Certificate, _ source: MTLSPrincipalSource) throws -> Result<String, AuthenticationFailure> {
        let mapper = try Self.mapper.get()
        return Result { () throws(AuthenticationFailure) -> String in
            try MTLSPrincipal.principal(of: leaf, subject: "CN=subject-cn", source: source, mapper: mapper)
        }
    }

    @Test func principalSources() throws {
        let svid = try Self.leaf(dns: ["a.example", "b.example"], uris: ["spiffe://prod.example/ns/a/sa/b"])
        #expect(try principal(svid, .subjectDN).get() == "subject-cn")
        #expect(try principal(svid, .spiffeID).get() == "spiffe://prod.example/ns/a/sa/b")
        #expect(try principal(svid, .sanURI).get() == "spiffe://prod.example/ns/a/sa/b")
        #expect(try principal(svid, .sanDNS).get() == "a.example")
    }

    @Test func aMissingOrAmbiguousSANNamesNoPrincipal() throws {
        let plain = try Self.leaf()
        let two = try Self.leaf(uris: ["spiffe://prod.example/a", "spiffe://prod.example/b"])
        let bad = try Self.leaf(uris: ["spiffe://Prod.Example/a"])
        for (leaf, source, reason) in [
            (plain, MTLSPrincipalSource.spiffeID, "carries no SPIFFE ID"),
            (plain, .sanURI, "has no URI subjectAltName"),
            (plain, .sanDNS, "has no DNS subjectAltName"),
            (two, .spiffeID, "carries 2 SPIFFE IDs"),
            (two, .sanURI, "has 2 URI subjectAltNames"),
            (bad, .spiffeID, "trust domain"),
        ] {
            guard case .failure(let failure) = try principal(leaf, source) else {
                Issue.record("\(source) gave a principal for \(leaf.subject)")
                continue
            }
            #expect(failure.kind == .unauthorized)
            #expect(failure.reason.contains(reason), "\(failure.reason)")
        }
    }

    @Test func sansSentToRoles() throws {
        let leaf = try Self.leaf(dns: ["a.example"], uris: ["urn:x", "spiffe://t/x"])
        #expect(MTLSPrincipal.sans(of: leaf) == ["DNS:a.example", "URI:urn:x", "URI:spiffe://t/x"])
    }

    @Test func settings() throws {
        let config = try configuration([
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_SOURCE": "SPIFFE_ID",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR": " /certs/ca.pem = reader, operator ; \(String(repeating: "ab", count: 32))=",
        ])
        #expect(config.mtls?.principalSource == .spiffeID)
        #expect(config.mtls?.defaultRolesByAnchor == [
            AnchorDefaultRoles(anchor: "/certs/ca.pem", roles: ["reader", "operator"]),
            AnchorDefaultRoles(anchor: String(repeating: "ab", count: 32), roles: []),
        ])
    }

    @Test(arguments: [
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_SOURCE": "email"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_SOURCE", "not a principal source"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_SOURCE": "san_uri", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_PATTERN": "CN=(.*)"],
         "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_PATTERN", "would not be used"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR": "reader"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR", "without '='"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR": "=reader"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR", "names no anchor"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR": "/certs/ca.pem=a b"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES_BY_ANCHOR", "the role"),
    ])
    func refusedSettings(_ values: [String: String], _ variable: String, _ reason: String) {
        #expect {
            _ = try configuration(values)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.variable == variable && error.message.contains(reason)
        }
    }

    @Test func revocationModes() throws {
        #expect(try configuration(["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "OCSP"]).mtls?.revocation == .ocsp)
        let both = try configuration([
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "crl+ocsp", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS": "/crl/ca.crl",
        ])
        #expect(both.mtls?.revocation == .crlAndOCSP)
        // Without files the CRLs come from the certificates' distribution points, unless fetching is off.
        #expect(try configuration(["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "crl+ocsp"]).mtls?.crlFetch == true)
        refusedSettings(
            ["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "crl", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH": "false"],
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH=true")
        #expect(throws: ConfigurationError.self) {
            try configuration(["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "ocsp", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS": "/crl/ca.crl"])
        }
    }

    @Test func anchorsMustBeTrusted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("anchors-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ca = try Self.ca.get()
        let file = "\(directory)/ca.pem"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(try ca.pem.utf8)))
        let digest = CertificateNames.spkiSHA256(ca.certificate)
        let byFile = try AnchorDefaultRoles.resolve(
            [AnchorDefaultRoles(anchor: file, roles: ["a"])], trustedFiles: [file], variable: "V")
        #expect(byFile == [digest: ["a"]])
        let byDigest = try AnchorDefaultRoles.resolve(
            [AnchorDefaultRoles(anchor: digest.uppercased(), roles: [])], trustedFiles: [file], variable: "V")
        #expect(byDigest == [digest: []])
        #expect(throws: ConfigurationError.self) {
            try AnchorDefaultRoles.resolve([AnchorDefaultRoles(anchor: String(repeating: "0", count: 64), roles: [])], trustedFiles: [file], variable: "V")
        }
        #expect(throws: ConfigurationError.self) {
            try AnchorDefaultRoles.resolve([AnchorDefaultRoles(anchor: "/other.pem", roles: [])], trustedFiles: [file], variable: "V")
        }
    }

    @Test func revocationByAnchor() throws {
        let variable = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR"
        let parsed = try configuration([variable: " /certs/partner=ca.pem = CRL+OCSP/closed ; /certs/ca.pem=off;; abc=ocsp/open "])
        #expect(parsed.mtls?.revocationByAnchor == [
            AnchorRevocationSetting(anchor: "/certs/partner=ca.pem", mode: .crlAndOCSP, failure: .closed),
            AnchorRevocationSetting(anchor: "/certs/ca.pem", mode: .off),
            AnchorRevocationSetting(anchor: "abc", mode: .ocsp, failure: .open),
        ])
        // An anchor using crl needs no global mode; crl files without any crl user are refused.
        #expect(parsed.mtls?.usesCRL == true && parsed.mtls?.usesOCSP == true)
        refusedSettings([variable: "/certs/ca.pem"], variable, "without '='; expected <anchor>=<mode>[/<failure>]")
        refusedSettings([variable: "/certs/ca.pem=crl+ocps"], variable, "gives anchor '/certs/ca.pem' the policy 'crl+ocps'")
        refusedSettings([variable: "/certs/ca.pem=crl/shut"], variable, "the failure policy 'shut'; expected closed")
        refusedSettings([variable: "=crl"], variable, "names no anchor")
        refusedSettings(
            [variable: "/certs/ca.pem=ocsp", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS": "/crl/ca.crl"],
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS", "would not be checked")

        // Resolved against the trusted files at start: a file or key that is not trusted is refused.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("revocation-anchors-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ca = try Self.ca.get()
        let file = "\(directory)/ca.pem"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(try ca.pem.utf8)))
        let digest = CertificateNames.spkiSHA256(ca.certificate)
        let resolved = try AnchorRevocationSetting.resolve(
            [AnchorRevocationSetting(anchor: file, mode: .crl)], globalFailure: .open, trustedFiles: [file], variable: variable)
        #expect(resolved == [digest: AnchorRevocationPolicy(mode: .crl, failure: .open, anchor: file)])
        #expect(throws: ConfigurationError.self) {
            try AnchorRevocationSetting.resolve(
                [AnchorRevocationSetting(anchor: "/elsewhere.pem", mode: .crl)], globalFailure: .closed, trustedFiles: [file], variable: variable)
        }
        #expect(throws: ConfigurationError.self) {
            try AnchorRevocationSetting.resolve(
                [AnchorRevocationSetting(anchor: file, mode: .crl), AnchorRevocationSetting(anchor: digest, mode: .off)],
                globalFailure: .closed, trustedFiles: [file], variable: variable)
        }
    }
}
