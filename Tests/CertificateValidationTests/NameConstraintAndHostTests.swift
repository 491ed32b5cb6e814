import CertificateValidation
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// Name constraints complete in both profiles (issue 17 item 2: directoryName, rfc822Name, DNS with leading period and
/// wildcards, IP, URI; unsupported critical forms refused), and `--host` matching (RFC 6125/9525).
@Suite struct NameConstraintAndHostTests {
    func constrainedRoot(_ constraints: NameConstraints, critical: Bool = true) throws -> TestCertificate {
        var extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        }
        try extensions.append(Certificate.Extension(constraints, critical: critical))
        return try TestCertificate.make("Constrained Root", extensions: extensions)
    }

    func leaf(
        under root: TestCertificate, subject: DistinguishedName? = nil, names: [GeneralName]
    ) throws -> Certificate {
        try TestCertificate.make("leaf", issuer: root, subject: subject, extensions: try Certificate.Extensions {
            try ExtendedKeyUsage([.clientAuth])
            if !names.isEmpty { SubjectAlternativeNames(names) }
        }).certificate
    }

    func verdict(_ leaf: Certificate, _ root: TestCertificate, host: String? = nil) async -> String? {
        var settings = CertificateValidationSettings(trustedCertificates: [root.certificate])
        settings.host = host
        do {
            _ = try await ClientCertificateValidator(settings: settings).validate(leaf: leaf, intermediates: [])
            return nil
        } catch {
            return error.message
        }
    }

    @Test func directoryNameConstraints() async throws {
        // swift-certificates' RFC5280Policy refused every chain with a directoryName constraint.
        let permitted = try DistinguishedName { OrganizationName("CertAuth Test") }
        let root = try constrainedRoot(NameConstraints(permittedSubtrees: [.directoryName(permitted)]))
        #expect(await verdict(try leaf(under: root, names: []), root) == nil)
        let outside = try DistinguishedName { OrganizationName("Elsewhere"); CommonName("intruder") }
        let refused = await verdict(try leaf(under: root, subject: outside, names: []), root)
        #expect(refused?.contains("breaks the name constraints of trusted CA 'CN=Constrained Root, O=CertAuth Test': dirName:CN=intruder, O=Elsewhere is outside the permitted dirName:O=CertAuth Test") == true, "\(refused ?? "accepted")")
        let excluded = try constrainedRoot(NameConstraints(excludedSubtrees: [.directoryName(permitted)]))
        #expect(await verdict(try leaf(under: excluded, names: []), excluded)?.contains("is excluded by dirName:O=CertAuth Test") == true)
    }

    @Test func rfc822NameConstraints() async throws {
        let root = try constrainedRoot(NameConstraints(permittedEmailAddresses: ["example.test", ".mail.example.test"]))
        #expect(await verdict(try leaf(under: root, names: [.rfc822Name("ops@example.test")]), root) == nil)
        #expect(await verdict(try leaf(under: root, names: [.rfc822Name("ops@eu.mail.example.test")]), root) == nil)
        let refused = await verdict(try leaf(under: root, names: [.rfc822Name("ops@evil.test")]), root)
        #expect(refused?.contains("email:ops@evil.test is outside the permitted email:example.test, email:.mail.example.test") == true, "\(refused ?? "accepted")")
        // The subject's emailAddress attribute counts as an rfc822Name.
        let withMail = try DistinguishedName { EmailAddress("ops@evil.test"); CommonName("mailer") }
        #expect(await verdict(try leaf(under: root, subject: withMail, names: []), root)?.contains("email:ops@evil.test") == true)
        let mailbox = try constrainedRoot(NameConstraints(excludedEmailAddresses: ["root@example.test"]))
        #expect(await verdict(try leaf(under: mailbox, names: [.rfc822Name("root@example.test")]), mailbox)?.contains("is excluded by email:root@example.test") == true)
        #expect(await verdict(try leaf(under: mailbox, names: [.rfc822Name("ops@example.test")]), mailbox) == nil)
    }

    @Test func dnsConstraintsWithLeadingPeriodAndWildcards() async throws {
        let zone = try constrainedRoot(NameConstraints(permittedDNSDomains: ["example.test"]))
        #expect(await verdict(try leaf(under: zone, names: [.dnsName("example.test")]), zone) == nil)
        #expect(await verdict(try leaf(under: zone, names: [.dnsName("*.example.test")]), zone) == nil)
        #expect(await verdict(try leaf(under: zone, names: [.dnsName("notexample.test")]), zone) != nil)
        let subdomains = try constrainedRoot(NameConstraints(permittedDNSDomains: [".example.test"]))
        #expect(await verdict(try leaf(under: subdomains, names: [.dnsName("a.example.test")]), subdomains) == nil)
        #expect(await verdict(try leaf(under: subdomains, names: [.dnsName("example.test")]), subdomains) != nil)
        let narrow = try constrainedRoot(NameConstraints(permittedDNSDomains: ["a.example.test"]))
        // `*.example.test` also stands for b.example.test, outside the permitted subtree.
        #expect(await verdict(try leaf(under: narrow, names: [.dnsName("*.example.test")]), narrow) != nil)
        let excluded = try constrainedRoot(NameConstraints(excludedDNSDomains: ["secret.example.test"]))
        let wildcard = await verdict(try leaf(under: excluded, names: [.dnsName("*.example.test")]), excluded)
        #expect(wildcard?.contains("DNS:*.example.test is excluded by DNS:secret.example.test") == true, "\(wildcard ?? "accepted")")
        #expect(await verdict(try leaf(under: excluded, names: [.dnsName("open.example.test")]), excluded) == nil)
    }

    @Test func ipAndURIConstraints() async throws {
        let root = try constrainedRoot(NameConstraints(
            permittedIPRanges: [ASN1OctetString(contentBytes: [10, 0, 0, 0, 255, 0, 0, 0])],
            permittedURIDomains: [".example.test"]))
        #expect(await verdict(try leaf(under: root, names: [.ipAddress(ASN1OctetString(contentBytes: [10, 1, 2, 3]))]), root) == nil)
        #expect(await verdict(try leaf(under: root, names: [.ipAddress(ASN1OctetString(contentBytes: [192, 168, 1, 1]))]), root)?.contains("IP:192.168.1.1 is outside the permitted IP:10.0.0.0/255.0.0.0") == true)
        #expect(await verdict(try leaf(under: root, names: [.uniformResourceIdentifier("spiffe://a.example.test/orders")]), root) == nil)
        #expect(await verdict(try leaf(under: root, names: [.uniformResourceIdentifier("spiffe://evil.test/orders")]), root) != nil)
    }

    @Test func unsupportedCriticalFormsAreRefused() async throws {
        let root = try constrainedRoot(NameConstraints(permittedSubtrees: [.registeredID([1, 2, 3, 4])]))
        let refused = await verdict(try leaf(under: root, names: [.dnsName("a.example.test")]), root)
        #expect(refused?.contains("has a critical name constraint of a form this service cannot check (registeredID)") == true, "\(refused ?? "accepted")")
    }

    @Test func hostMatchingBySubjectAltNameOnly() async throws {
        let root = try TestCertificate.makeCA("Host Root")
        let served = try leaf(under: root, names: [
            .dnsName("svc.example.test"), .dnsName("*.wild.example.test"), .ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 1])),
        ])
        for host in ["svc.example.test", "SVC.example.test", "a.wild.example.test", "10.0.0.1"] {
            #expect(await verdict(served, root, host: host) == nil, "\(host)")
        }
        for host in ["other.example.test", "a.b.wild.example.test", "wild.example.test", "10.0.0.2"] {
            let refused = await verdict(served, root, host: host)
            #expect(refused?.contains("is not issued for \(host): its subjectAltNames are DNS:svc.example.test, DNS:*.wild.example.test, IP:10.0.0.1") == true, "\(host): \(refused ?? "accepted")")
        }
        // A common name never counts (RFC 9525).
        let named = try TestCertificate.make("svc.example.test", issuer: root, extensions: try Certificate.Extensions {
            try ExtendedKeyUsage([.clientAuth])
        })
        #expect(await verdict(named.certificate, root, host: "svc.example.test")?.contains("has no subjectAltName, so it names no host") == true)
    }
}
