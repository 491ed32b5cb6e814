import Foundation
import Keystore
import Testing
import TestSupport
import WireFormat
import X509

@Suite struct KeystoreLoaderTests {
    let material: Material
    let temp: TemporaryDirectory

    init() throws {
        material = try Material.get()
        temp = try TemporaryDirectory()
    }

    /// The seed's command: openssl pkcs12 -export -out identity.p12 -inkey private-key.pem -in certificate.pem -password pass:pw -name identity
    private func seedFile(extra: [String] = []) throws -> String {
        let path = temp.file("identity.p12")
        try material.export(to: path, key: material.identityKeyPEM, certificate: material.identityCertPEM, extra: extra)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        return path
    }

    @Test func opensslSeedFileLoads() throws {
        let path = try seedFile()
        let loaded = try KeystoreLoader.load(path: path, password: "pw", alias: "identity", keyPassword: nil, settings: settings)
        let credential = loaded.credential
        #expect(credential.alias == "identity")
        #expect(loaded.aliases == ["identity"])
        #expect(loaded.warnings.isEmpty)
        #expect(credential.certificateDER == material.identityCertDER)
        #expect(credential.chain.count == 1)
        #expect(credential.chainDER == [material.identityCertDER])
        #expect(credential.subject == "CN=identity,O=CertAuth Test")
        guard case .rsa = credential.privateKey else {
            Issue.record("expected an RSA key")
            return
        }
        #expect(credential.privateKey.keySizeInBits == 2048)
        #expect(credential.privateKey.certificatePublicKey == credential.certificate.publicKey)
        #expect(credential.notValidAfter == credential.certificate.notValidAfter)
    }

    @Test func thumbprintsMatchOpenSSLFingerprints() throws {
        let path = try seedFile()
        let credential = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings).credential
        let sha1 = try OpenSSLCLI.fingerprint(certificatePEM: material.identityCertPEM, digest: "sha1")
        let sha256 = try OpenSSLCLI.fingerprint(certificatePEM: material.identityCertPEM, digest: "sha256")
        #expect(hex(credential.sha1Thumbprint) == sha1)
        #expect(hex(credential.sha256Thumbprint) == sha256)
        #expect(credential.x5t == Base64URL.encode(credential.sha1Thumbprint))
        #expect(credential.x5tS256 == Base64URL.encode(credential.sha256Thumbprint))
        #expect(!credential.x5t.contains("=") && !credential.x5t.contains("+") && !credential.x5t.contains("/"))
        #expect(credential.x5t.count == 27)
        #expect(credential.x5tS256.count == 43)
        #expect(credential.sha1ThumbprintHex == sha1.uppercased())
    }

    @Test func opensslLegacyFileLoads() throws {
        let path = try seedFile(extra: ["-legacy"])
        let info = try OpenSSLCLI.run(
            ["pkcs12", "-in", path, "-passin", "pass:pw", "-info", "-noout", "-legacy"], mergeStandardError: true
        )
        #expect(info.contains("RC2") || info.contains("3DES") || info.contains("TripleDES"), "\(info)")
        let loaded = try KeystoreLoader.load(path: path, password: "pw", alias: "identity", keyPassword: nil, settings: settings)
        #expect(loaded.credential.certificateDER == material.identityCertDER)
    }

    @Test func aliasIsCaseInsensitiveAndOptional() throws {
        let path = try seedFile()
        for alias in ["IDENTITY", "Identity", nil, ""] {
            let loaded = try KeystoreLoader.load(path: path, password: "pw", alias: alias, keyPassword: nil, settings: settings)
            #expect(loaded.credential.alias == "identity")
        }
    }

    @Test func chainFromCertfileIsOrdered() throws {
        let path = try seedFile(extra: ["-certfile", material.caCertPEM])
        let credential = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings).credential
        #expect(credential.chainDER == [material.identityCertDER, material.caCertDER])
        #expect(credential.chain.map(\.subject.description) == ["CN=identity,O=CertAuth Test", "CN=Test CA,O=CertAuth Test"])
        #expect(credential.chainDER.count == 2)
    }

    @Test func emptyPasswordFile() throws {
        let path = temp.file("empty.p12")
        try material.export(to: path, key: material.identityKeyPEM, certificate: material.identityCertPEM, password: "")
        let loaded = try KeystoreLoader.load(path: path, password: "", alias: nil, keyPassword: nil, settings: settings)
        #expect(loaded.credential.alias == "identity")
        let error = expectKeystoreError(.wrongPassword, prefix: "Cannot open keystore \(path): wrong password") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(error?.message.contains(settings.password) == true)
    }

    @Test func unencryptedFileWithoutMACLoadsWithWarning() throws {
        let path = try seedFile(extra: ["-keypbe", "NONE", "-certpbe", "NONE", "-nomac"])
        let loaded = try KeystoreLoader.load(path: path, password: "pw", alias: "identity", keyPassword: nil, settings: settings)
        #expect(loaded.credential.certificateDER == material.identityCertDER)
        #expect(loaded.warnings.contains { $0.contains("no integrity check (MAC)") })
    }

    @Test func ecP256KeyWorks() throws {
        let path = temp.file("ec.p12")
        try material.export(to: path, key: material.ecKeyPEM, certificate: material.ecCertPEM, name: "second")
        let credential = try KeystoreLoader.load(path: path, password: "pw", alias: "second", keyPassword: nil, settings: settings).credential
        guard case .p256 = credential.privateKey else {
            Issue.record("expected a P-256 key")
            return
        }
        #expect(credential.certificateDER == material.ecCertDER)
    }

    @Test func ecP384KeyWorks() throws {
        let path = temp.file("p384.p12")
        try material.export(to: path, key: material.p384KeyPEM, certificate: material.p384CertPEM, name: "p384")
        let credential = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings).credential
        guard case .p384 = credential.privateKey else {
            Issue.record("expected a P-384 key")
            return
        }
    }

    @Test func unsupportedKeys() throws {
        let small = temp.file("small.p12")
        try material.export(to: small, key: material.rsa1024KeyPEM, certificate: material.rsa1024CertPEM, name: "small")
        let smallError = expectKeystoreError(.unsupportedKey, prefix: "The private key of alias 'small' in \(small) is an RSA key of 1024 bits") {
            try KeystoreLoader.load(path: small, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(smallError?.message.contains("2048") == true)

        let edwards = temp.file("ed.p12")
        try material.export(to: edwards, key: material.ed25519KeyPEM, certificate: material.ed25519CertPEM, name: "edwards")
        let edError = expectKeystoreError(.unsupportedKey, prefix: "The private key of alias 'edwards' in \(edwards) is a ") {
            try KeystoreLoader.load(path: edwards, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(edError?.message.uppercased().contains("ED25519") == true)
    }

    @Test func wrongPassword() throws {
        let secret = "S3cret-Store-Pa55"
        let path = temp.file("secret.p12")
        try material.export(to: path, key: material.identityKeyPEM, certificate: material.identityCertPEM, password: secret)
        let error = expectKeystoreError(.wrongPassword, prefix: "Cannot open keystore \(path): wrong password") {
            try KeystoreLoader.load(path: path, password: "Wrong-Guess-123", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(error?.message.contains(settings.password) == true)
        #expect(error?.description.contains(secret) == false)
        #expect(error?.description.contains("Wrong-Guess-123") == false)

        let legacy = temp.file("secret-legacy.p12")
        try material.export(
            to: legacy, key: material.identityKeyPEM, certificate: material.identityCertPEM, password: secret, extra: ["-legacy"]
        )
        expectKeystoreError(.wrongPassword, prefix: "Cannot open keystore \(legacy): wrong password") {
            try KeystoreLoader.load(path: legacy, password: "nope", alias: nil, keyPassword: nil, settings: settings)
        }
        // Right store password but a wrong separate key password.
        let keyError = expectKeystoreError(.wrongKeyPassword, prefix: "Cannot decrypt the private key of alias 'identity' in \(path): wrong key password") {
            try KeystoreLoader.load(path: path, password: secret, alias: "identity", keyPassword: "Other-Key-Pa55", settings: settings)
        }
        #expect(keyError?.message.contains(settings.keyPassword) == true)
        #expect(keyError?.description.contains(secret) == false)
        #expect(keyError?.description.contains("Other-Key-Pa55") == false)
    }

    @Test func missingFile() {
        let path = temp.file("absent.p12")
        let error = expectKeystoreError(.notFound, prefix: "Certificate keystore not found: \(path)") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(
            error?.message
                == "Certificate keystore not found: \(path); check \(settings.path) and that the file is mounted (for example /certs:ro)."
        )
        let server = expectKeystoreError(.notFound, prefix: "Certificate keystore not found: \(path)") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: serverSettings)
        }
        #expect(server?.message.contains("SERVER_SSL_KEY_STORE") == true)
    }

    /// A directory is the Kubernetes TLS secret layout (PEMCredentialTests); one without tls.crt says what it lacks.
    @Test func directoryWithoutTLSFiles() {
        expectKeystoreError(.notFound, prefix: "Keystore directory \(temp.path) has no tls.crt") {
            try KeystoreLoader.load(path: temp.path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
    }

    @Test func unknownAlias() throws {
        let path = try seedFile()
        let error = expectKeystoreError(.unknownAlias, prefix: "Alias 'nope' not found in keystore \(path); aliases present: identity.") {
            try KeystoreLoader.load(path: path, password: "pw", alias: "nope", keyPassword: nil, settings: settings)
        }
        #expect(error?.message.contains(settings.alias) == true)
    }

    @Test func certificateOnlyFileGivesNoPrivateKey() throws {
        let path = temp.file("nokeys.p12")
        try material.export(to: path, key: nil, certificate: material.identityCertPEM, extra: ["-nokeys"])
        // Note: OpenSSL 3.0 ignores -name together with -nokeys, so the certificate has no friendlyName.
        let named = expectKeystoreError(.noPrivateKey, prefix: "Alias 'identity' in keystore \(path) holds a certificate but no private key") {
            try KeystoreLoader.load(path: path, password: "pw", alias: "identity", keyPassword: nil, settings: settings)
        }
        #expect(named?.message.contains("openssl pkcs12 -export -inkey key.pem -in cert.pem -name identity -out \(path)") == true)
        let unnamed = expectKeystoreError(.noPrivateKey, prefix: "Keystore \(path) holds a certificate but no private key") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(unnamed?.message.contains("openssl pkcs12 -export -inkey key.pem -in cert.pem -name <alias> -out \(path)") == true)

        // A certificate-only entry that does carry a friendlyName (as keytool -importcert writes it).
        let trusted = try PKCS12Writer.write(
            entries: [PKCS12Entry(alias: "identity", privateKeyDER: nil, certificateDER: material.identityCertDER)], password: "pw"
        )
        for alias in ["identity", nil] {
            expectKeystoreError(.noPrivateKey, prefix: "Alias 'identity' in keystore t.p12 holds a certificate but no private key") {
                try KeystoreLoader.load(data: trusted, path: "t.p12", password: "pw", alias: alias, keyPassword: nil, settings: settings)
            }
        }
    }

    @Test func keyWithoutCertificate() throws {
        let path = temp.file("nocerts.p12")
        try OpenSSLCLI.run([
            "pkcs12", "-export", "-nocerts", "-inkey", material.identityKeyPEM, "-out", path,
            "-password", "pass:pw", "-name", "identity",
        ])
        expectKeystoreError(.invalidCertificate, prefix: "Alias 'identity' in keystore \(path) holds a private key but no certificate") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
    }

    @Test func garbageIsNotPKCS12() throws {
        let path = try temp.write("garbage.p12", Array("this is not a keystore at all".utf8) + [0x00, 0x30, 0x82])
        expectKeystoreError(.notPKCS12, prefix: "\(path) is not a PKCS#12 keystore") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        let empty = try temp.write("empty.p12", [])
        expectKeystoreError(.notPKCS12, prefix: "\(empty) is not a PKCS#12 keystore") {
            try KeystoreLoader.load(path: empty, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        // A DER SEQUENCE that is not a PFX.
        expectKeystoreError(.notPKCS12, prefix: "\(path) is not a PKCS#12 keystore") {
            try KeystoreLoader.load(data: material.identityCertDER, path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
    }

    @Test func jksGetsConversionHint() throws {
        let path = try temp.write("keystore.jks", [0xFE, 0xED, 0xFE, 0xED, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01])
        let error = expectKeystoreError(.notPKCS12, prefix: "\(path) is not a PKCS#12 keystore") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(error?.message.contains("JKS") == true)
        #expect(error?.message.contains("keytool -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 -deststoretype PKCS12") == true)
    }

    @Test func pemGivenAsKeystore() throws {
        let error = expectKeystoreError(.notPKCS12, prefix: "\(material.identityCertPEM) is not a PKCS#12 keystore") {
            try KeystoreLoader.load(path: material.identityCertPEM, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(error?.message.contains("openssl pkcs12 -export") == true)
    }

    @Test func keyMismatch() throws {
        // Unencrypted, MAC-less file for twin A, then swap in twin B's certificate (same DER length).
        let path = temp.file("twin.p12")
        try material.export(
            to: path, key: material.twinAKeyPEM, certificate: material.twinACertPEM,
            extra: ["-keypbe", "NONE", "-certpbe", "NONE", "-nomac"]
        )
        try #require(material.twinACertDER.count == material.twinBCertDER.count)
        var bytes = try readBytes(path)
        let range = try #require(bytes.firstRange(of: material.twinACertDER))
        bytes.replaceSubrange(range, with: material.twinBCertDER)
        let error = expectKeystoreError(.keyMismatch, prefix: "The private key of alias 'identity' does not match its certificate") {
            try KeystoreLoader.load(data: bytes, path: path, password: "pw", alias: "identity", keyPassword: nil, settings: settings)
        }
        #expect(error?.message.contains("CN=twin") == true)
    }

    @Test func validityWindow() throws {
        let path = try seedFile()
        let future = Date(timeIntervalSinceNow: 20 * 365 * 86_400)
        let expired = expectKeystoreError(.expired, prefix: "Certificate of alias 'identity' expired on ") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings, now: future)
        }
        let past = Date(timeIntervalSinceNow: -20 * 365 * 86_400)
        let early = expectKeystoreError(.notYetValid, prefix: "Certificate of alias 'identity' is not valid before ") {
            try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings, now: past)
        }
        for error in [expired, early] {
            let message = error?.message ?? ""
            #expect(message.contains("CN=identity,O=CertAuth Test"))
            #expect(message.contains("issue a new certificate, upload it to the app registration and replace the keystore"))
            // ISO 8601 date such as 2027-11-23T09:11:30Z
            #expect(message.contains { $0 == "T" } && message.contains("Z ("))
        }
    }

    @Test func expiryWarning() throws {
        let path = try seedFile()
        let credential = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings).credential
        let soon = credential.notValidAfter.addingTimeInterval(-10 * 86_400)
        let loaded = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings, now: soon)
        #expect(loaded.warnings.count == 1)
        #expect(loaded.warnings.first?.hasPrefix("Certificate of alias 'identity' (subject CN=identity,O=CertAuth Test) expires on ") == true)
        #expect(loaded.warnings.first?.contains("in 10 days") == true)
    }

    @Test func permissionWarning() throws {
        let path = try seedFile()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let open = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
        #expect(open.warnings.count == 1)
        #expect(open.warnings.first?.hasPrefix("Keystore \(path) is readable by every user (mode 0644); restrict it to the service: chmod 600") == true)
        #expect(open.warnings.first?.contains("chgrp") == true)

        // Group-readable is the container layout (a key the service's group may read): no warning, as for 0600.
        for mode in [0o600, 0o400, 0o640, 0o440] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            let restricted = try KeystoreLoader.load(path: path, password: "pw", alias: nil, keyPassword: nil, settings: settings)
            #expect(restricted.warnings.isEmpty)
        }
    }

    @Test func loadFromDataHasNoFileWarnings() throws {
        let path = try seedFile()
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: path)
        let loaded = try KeystoreLoader.load(
            data: try readBytes(path), path: path, password: "pw", alias: "identity", keyPassword: nil, settings: serverSettings
        )
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.credential.alias == "identity")
    }
}
