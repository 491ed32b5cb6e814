import CertificateValidation
import Foundation
import Testing
import TestSupport
import X509

/// A CA run with `openssl ca`, its CRLs made by `openssl ca -gencrl` (an independent implementation).
struct OpenSSLCA {
    let directory: TemporaryDirectory

    init(name: String = "CRL Test CA") throws {
        directory = try TemporaryDirectory("certval-crl")
        try directory.write("ca.cnf", """
            [ ca ]
            default_ca = test_ca
            [ test_ca ]
            database = index.txt
            new_certs_dir = .
            serial = serial
            crlnumber = crlnumber
            default_md = sha256
            default_days = 30
            default_crl_days = 7
            policy = accept_any
            unique_subject = no
            x509_extensions = client_cert
            [ accept_any ]
            commonName = supplied
            [ client_cert ]
            basicConstraints = CA:FALSE
            keyUsage = digitalSignature
            extendedKeyUsage = clientAuth
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid

            """)
        try directory.write("index.txt", "")
        try directory.write("serial", "1000\n")
        try directory.write("crlnumber", "01\n")
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=\(name)"])
    }

    func run(_ arguments: [String]) throws {
        try OpenSSLCLI.run(arguments, in: directory.path)
    }

    var anchor: Certificate {
        get throws { try CertificatePEM.load(files: [directory.file("ca.crt")], setting: "ca")[0] }
    }

    /// A client certificate for `name`, issued with `openssl ca`.
    func issue(_ name: String) throws -> Certificate {
        try run(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
        try run(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "\(name).csr", "-out", "\(name).crt", "-notext"])
        return try CertificatePEM.load(files: [directory.file("\(name).crt")], setting: name)[0]
    }

    func revoke(_ name: String) throws {
        try run(["ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-revoke", "\(name).crt"])
    }

    /// `openssl ca -gencrl` into `file` (PEM; DER with `der`); returns its path.
    @discardableResult
    func crl(_ file: String = "crl.pem", der: Bool = false) throws -> String {
        try run(["ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-gencrl", "-out", "gen.pem"])
        if der {
            try run(["crl", "-in", "gen.pem", "-outform", "DER", "-out", file])
        } else {
            try run(["crl", "-in", "gen.pem", "-out", file])
        }
        return directory.file(file)
    }
}

@Suite struct RevocationTests {
    func validator(_ anchor: Certificate, crls: CRLStore?, failure: RevocationFailurePolicy = .closed) -> ClientCertificateValidator {
        var settings = CertificateValidationSettings(trustedCertificates: [anchor])
        settings.revocation = RevocationSettings(mode: .crl, failure: failure, crls: crls, failureSetting: AuthnSettingNames.revocationFailure)
        return ClientCertificateValidator(settings: settings)
    }

    @Test func revokedCertificatesAreRefusedByTheCRLOfTheirIssuer() async throws {
        let ca = try OpenSSLCA()
        let good = try ca.issue("good")
        let bad = try ca.issue("bad")
        try ca.revoke("bad")
        for der in [false, true] {
            let store = try CRLStore(paths: [try ca.crl(der ? "crl.der" : "crl.pem", der: der)], setting: "CRL_PATHS")
            let checker = validator(try ca.anchor, crls: store)
            _ = try await checker.validate(leaf: good, intermediates: [])
            await expectRefusal(.revoked, mentioning: ["certificate 'CN=bad' (serial", "was revoked at", "by 'CN=CRL Test CA'", "issue the client a new certificate"]) {
                try await checker.validate(leaf: bad, intermediates: [])
            }
        }
    }

    @Test func unknownStatusFollowsTheFailurePolicy() async throws {
        let ca = try OpenSSLCA()
        let other = try OpenSSLCA(name: "Other CA")
        let good = try ca.issue("good")
        // Only another CA's CRL: no status for 'good'.
        let store = try CRLStore(paths: [try other.crl()], setting: "CRL_PATHS")
        await expectRefusal(.revocationUnknown, mentioning: [
            "the revocation status of certificate 'CN=good' is unknown: no CRL of 'CN=CRL Test CA' is in CRL_PATHS",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_FAILURE=open",
        ]) {
            try await validator(try ca.anchor, crls: store).validate(leaf: good, intermediates: [])
        }
        _ = try await validator(try ca.anchor, crls: store, failure: .open).validate(leaf: good, intermediates: [])

        // A stale CRL (next update 7 days after issue): checked 8 days on, the status is unknown.
        let current = try CRLStore(paths: [try ca.crl()], setting: "CRL_PATHS")
        let later = Date().addingTimeInterval(8 * 86_400)
        await expectRefusal(.revocationUnknown, mentioning: ["the newest CRL of 'CN=CRL Test CA' in CRL_PATHS is stale: its next update was due at"]) {
            try await validator(try ca.anchor, crls: current).validate(leaf: good, intermediates: [], at: later)
        }
        _ = try await validator(try ca.anchor, crls: current, failure: .open).validate(leaf: good, intermediates: [], at: later)
    }

    @Test func aCRLWithTheRightNameButAnotherKeyIsNotTheIssuers() async throws {
        let ca = try OpenSSLCA()
        let impostor = try OpenSSLCA()  // same name "CN=CRL Test CA", another key
        let bad = try ca.issue("bad")
        let store = try CRLStore(paths: [try impostor.crl()], setting: "CRL_PATHS")
        await expectRefusal(.revocationUnknown, mentioning: ["the CRLs named 'CN=CRL Test CA' in CRL_PATHS are not signed by 'CN=CRL Test CA'"]) {
            try await validator(try ca.anchor, crls: store).validate(leaf: bad, intermediates: [])
        }
    }

    @Test func changedFilesAreReloadedAndBrokenOnesKeepTheLastGoodCRL() async throws {
        let ca = try OpenSSLCA()
        let bad = try ca.issue("bad")
        let path = try ca.crl()
        let store = try CRLStore(paths: [path], setting: "CRL_PATHS")
        let checker = validator(try ca.anchor, crls: store)
        _ = try await checker.validate(leaf: bad, intermediates: [])
        #expect(store.reloadIfChanged() == false)
        try ca.revoke("bad")
        try ca.crl()
        #expect(store.reloadIfChanged() == true)
        await expectRefusal(.revoked, mentioning: ["was revoked at"]) {
            try await checker.validate(leaf: bad, intermediates: [])
        }
        try ca.directory.write("crl.pem", "not a CRL")
        #expect(store.reloadIfChanged() == false)
        #expect(store.status.first?.error?.contains("is not a readable CRL") == true, "\(String(describing: store.status.first?.error))")
        await expectRefusal(.revoked, mentioning: ["was revoked at"]) {
            try await checker.validate(leaf: bad, intermediates: [])
        }
        // At start, a broken file is a configuration error.
        expectError(.malformed, mentioning: ["CRL_PATHS", "is not a readable CRL"]) {
            try CRLStore(paths: [path], setting: "CRL_PATHS")
        }
    }
}
