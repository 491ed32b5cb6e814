import CertificateValidation
import Crypto
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

/// The `strict` profile (issue 17 item 2): each check refuses a chain that `compatible` accepts, and a well-formed
/// chain passes both.
@Suite struct StrictProfileTests {
    /// A root and an intermediate as RFC 5280 and the web PKI want them.
    static func root() throws -> TestCertificate {
        let key = P256.Signing.PrivateKey()
        let name = try subject("Strict Root")
        return try rootWith(key: key, name: name, extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: .init(key.publicKey))
        })
    }

    static func rootWith(key: P256.Signing.PrivateKey, name: DistinguishedName, extensions: Certificate.Extensions) throws -> TestCertificate {
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        return TestCertificate(certificate: certificate, key: key)
    }

    /// The extensions of a good client certificate under `issuer`, with `extra` appended.
    static func leafExtensions(
        issuer: TestCertificate, eku: Certificate.Extension? = nil, extra: [Certificate.Extension] = []
    ) throws -> Certificate.Extensions {
        var extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            AuthorityKeyIdentifier(keyIdentifier: try issuer.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        }
        try extensions.append(eku ?? Certificate.Extension(ExtendedKeyUsage([.clientAuth]), critical: false))
        for ext in extra { try extensions.append(ext) }
        return extensions
    }

    func strictValidator(_ root: TestCertificate, profile: ValidationProfile = .strict) -> ClientCertificateValidator {
        var settings = CertificateValidationSettings(trustedCertificates: [root.certificate])
        settings.profile = profile
        return ClientCertificateValidator(settings: settings)
    }

    /// Accepted by `compatible`, refused by `strict` with a message holding `fragment`.
    func onlyStrictRefuses(_ leaf: TestCertificate, root: TestCertificate, intermediates: [Certificate] = [], _ fragment: String,
                           sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            _ = try await strictValidator(root, profile: .compatible).validate(leaf: leaf.certificate, intermediates: intermediates)
        } catch {
            Issue.record("compatible refused: \(error.message)", sourceLocation: sourceLocation)
        }
        await expectRefusal(.other, mentioning: [fragment], sourceLocation: sourceLocation) {
            try await strictValidator(root, profile: .strict).validate(leaf: leaf.certificate, intermediates: intermediates)
        }
    }

    @Test func aWellFormedChainPassesBothProfiles() async throws {
        let root = try Self.root()
        let leaf = try TestCertificate.make("good", issuer: root, extensions: try Self.leafExtensions(issuer: root))
        _ = try await strictValidator(root).validate(leaf: leaf.certificate, intermediates: [])
        _ = try await strictValidator(root, profile: .compatible).validate(leaf: leaf.certificate, intermediates: [])
    }

    @Test func version1LeavesAreCompatibleOnly() async throws {
        let root = try Self.root()
        let leaf = try TestCertificate.make("v1", issuer: root, version: .v1)
        await onlyStrictRefuses(leaf, root: root, "is a version 1 certificate; the strict profile accepts version 3 only")
    }

    @Test func serialNumbersPositiveAndAtMost20Octets() async throws {
        let root = try Self.root()
        let zero = try TestCertificate.make("zero", issuer: root, serialNumber: .init(bytes: [0]), extensions: try Self.leafExtensions(issuer: root))
        await onlyStrictRefuses(zero, root: root, "has the serial number zero")
        let long = try TestCertificate.make(
            "long", issuer: root, serialNumber: .init(bytes: [0x01] + Array(repeating: 0x22, count: 20)), extensions: try Self.leafExtensions(issuer: root))
        await onlyStrictRefuses(long, root: root, "serial number of 21 octets")
    }

    @Test func keyIdentifiersPresentAndConsistent() async throws {
        let root = try Self.root()
        let noAKI = try TestCertificate.make("noaki", issuer: root, extensions: try Certificate.Extensions {
            try ExtendedKeyUsage([.clientAuth])
        })
        await onlyStrictRefuses(noAKI, root: root, "has no authorityKeyIdentifier (keyid)")
        let wrongAKI = try TestCertificate.make("wrongaki", issuer: root, extensions: try Certificate.Extensions {
            try ExtendedKeyUsage([.clientAuth])
            AuthorityKeyIdentifier(keyIdentifier: [1, 2, 3, 4])
        })
        await onlyStrictRefuses(wrongAKI, root: root, "authorityKeyIdentifier differs from the subjectKeyIdentifier")
        // An intermediate without subjectKeyIdentifier.
        let intermediate = try TestCertificate.make("nosk", issuer: root, extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true))
            AuthorityKeyIdentifier(keyIdentifier: try root.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        })
        let below = try TestCertificate.make("below", issuer: intermediate, extensions: try Certificate.Extensions {
            try ExtendedKeyUsage([.clientAuth])
            AuthorityKeyIdentifier(keyIdentifier: [9, 9, 9])
        })
        await onlyStrictRefuses(below, root: root, intermediates: [intermediate.certificate], "is a CA without subjectKeyIdentifier")
    }

    @Test func caCertificatesHaveCriticalBasicConstraintsAndKeyUsage() async throws {
        let root = try Self.root()
        let rootKeyID = try root.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        func intermediate(_ critical: Bool, keyUsage: Bool) throws -> TestCertificate {
            let key = P256.Signing.PrivateKey()
            var extensions = Certificate.Extensions()
            try extensions.append(Certificate.Extension(BasicConstraints.isCertificateAuthority(maxPathLength: nil), critical: critical))
            if keyUsage { try extensions.append(Certificate.Extension(KeyUsage(keyCertSign: true), critical: true)) }
            try extensions.append(Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: rootKeyID), critical: false))
            try extensions.append(Certificate.Extension(SubjectKeyIdentifier(hash: .init(key.publicKey)), critical: false))
            return try TestCertificate.make("sub", issuer: root, key: key, extensions: extensions)
        }
        for (ca, fragment) in [
            (try intermediate(false, keyUsage: true), "has basicConstraints that are not marked critical"),
            (try intermediate(true, keyUsage: false), "is a CA without keyUsage"),
        ] {
            let leaf = try TestCertificate.make("leaf", issuer: ca, extensions: try Self.leafExtensions(issuer: ca))
            await onlyStrictRefuses(leaf, root: root, intermediates: [ca.certificate], fragment)
        }
        let good = try intermediate(true, keyUsage: true)
        let leaf = try TestCertificate.make("leaf", issuer: good, extensions: try Self.leafExtensions(issuer: good))
        _ = try await strictValidator(root).validate(leaf: leaf.certificate, intermediates: [good.certificate])
    }

    @Test func caLeavesAndKeyCertSignWithoutCA() async throws {
        let root = try Self.root()
        let caLeaf = try TestCertificate.make("caleaf", issuer: root, extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            AuthorityKeyIdentifier(keyIdentifier: try root.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        })
        await expectRefusal(.other, mentioning: ["is a CA certificate (basicConstraints CA:TRUE)"]) {
            try await strictValidator(root).validate(leaf: caLeaf.certificate, intermediates: [])
        }
        let signer = try TestCertificate.make("signer", issuer: root, extensions: try Certificate.Extensions {
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            AuthorityKeyIdentifier(keyIdentifier: try root.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        })
        await onlyStrictRefuses(signer, root: root, "keyUsage keyCertSign without basicConstraints CA:TRUE")
    }

    @Test func constraintPlacement() async throws {
        let root = try Self.root()
        let constrainedLeaf = try TestCertificate.make("ncleaf", issuer: root, extensions: try Self.leafExtensions(
            issuer: root, extra: [try Certificate.Extension(NameConstraints(permittedDNSDomains: ["example.test"]), critical: true)]))
        await onlyStrictRefuses(constrainedLeaf, root: root, "carries nameConstraints but is not a CA")
        let policyConstraints = Certificate.Extension(oid: [2, 5, 29, 36], critical: false, value: [0x30, 0x03, 0x80, 0x01, 0x00])
        let loose = try TestCertificate.make("pc", issuer: root, extensions: try Self.leafExtensions(issuer: root, extra: [policyConstraints]))
        await onlyStrictRefuses(loose, root: root, "has policyConstraints that are not marked critical")
        // Non-critical name constraints in a CA.
        let key = P256.Signing.PrivateKey()
        let looseRoot = try Self.rootWith(key: key, name: try subject("Loose Root"), extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true))
            SubjectKeyIdentifier(hash: .init(key.publicKey))
            NameConstraints(permittedDNSDomains: ["example.test"])
        })
        let leaf = try TestCertificate.make("inside", issuer: looseRoot, extensions: try Self.leafExtensions(
            issuer: looseRoot, extra: [try Certificate.Extension(SubjectAlternativeNames([.dnsName("a.example.test")]), critical: false)]))
        await onlyStrictRefuses(leaf, root: looseRoot, "has nameConstraints that are not marked critical")
    }

    @Test func extendedKeyUsageRules() async throws {
        let root = try Self.root()
        let anyEKU = try TestCertificate.make("anyeku", issuer: root, extensions: try Self.leafExtensions(
            issuer: root, eku: try Certificate.Extension(ExtendedKeyUsage([.clientAuth, .any]), critical: false)))
        await onlyStrictRefuses(anyEKU, root: root, "has anyExtendedKeyUsage")
        let criticalEKU = try TestCertificate.make("criteku", issuer: root, extensions: try Self.leafExtensions(
            issuer: root, eku: try Certificate.Extension(ExtendedKeyUsage([.clientAuth]), critical: true)))
        await onlyStrictRefuses(criticalEKU, root: root, "has a critical extendedKeyUsage")
        let key = P256.Signing.PrivateKey()
        let ekuRoot = try Self.rootWith(key: key, name: try subject("EKU Root"), extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true))
            SubjectKeyIdentifier(hash: .init(key.publicKey))
            try ExtendedKeyUsage([.clientAuth])
        })
        let leaf = try TestCertificate.make("under-eku-root", issuer: ekuRoot, extensions: try Self.leafExtensions(issuer: ekuRoot))
        await onlyStrictRefuses(leaf, root: ekuRoot, "is a root with extendedKeyUsage")
    }

    @Test func rsaKeysBelow2048BitsAreRefusedWhenRead() throws {
        // openssl makes the 1024-bit key (swift-crypto will not), with the seed's own two-step commands.
        let directory = try TemporaryDirectory()
        func run(_ arguments: [String]) throws {
            try OpenSSLCLI.run(arguments, in: directory.path)
        }
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out", "root.crt", "-days", "30", "-subj", "/CN=Strict RSA Root"])
        try run(["req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", "small.key", "-out", "small.csr", "-subj", "/CN=small"])
        try directory.write("small.ext", "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        try run(["x509", "-req", "-in", "small.csr", "-CA", "root.crt", "-CAkey", "root.key", "-CAcreateserial", "-out", "small.crt", "-days", "30", "-extfile", "small.ext"])
        // swift-certificates does not load RSA keys under 2048 bits at all, so both profiles refuse the certificate
        // when it is read (KeySizePolicy states the rule, and guards it should that ever change). openssl verify
        // accepts it: one of the places where even `compatible` is stricter (docs/authn.md says so).
        expectError(.malformed, mentioning: ["small.crt"]) {
            try CertificatePEM.load(files: [directory.file("small.crt")], setting: "leaf")
        }
        let openssl = try runProcess("/usr/bin/openssl", ["verify", "-CAfile", directory.file("root.crt"), directory.file("small.crt")])
        #expect(openssl.status == 0, "\(openssl.output)")
    }
}
