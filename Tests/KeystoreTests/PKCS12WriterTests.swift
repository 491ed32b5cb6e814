import Foundation
import Keystore
import Testing
import TestSupport
import X509

@Suite struct PKCS12WriterTests {
    let material: Material
    let temp: TemporaryDirectory

    init() throws {
        material = try Material.get()
        temp = try TemporaryDirectory()
    }

    private var identityEntry: PKCS12Entry {
        PKCS12Entry(
            alias: "identity", privateKeyDER: material.identityKeyDER, certificateDER: material.identityCertDER,
            chainDER: [material.caCertDER]
        )
    }

    @Test func writtenFileOpensWithOpenSSL() throws {
        let bytes = try PKCS12Writer.write(entries: [identityEntry], password: "pw")
        let path = try temp.write("identity.p12", bytes)

        let dump = try OpenSSLCLI.run(["pkcs12", "-in", path, "-passin", "pass:pw", "-nodes"])
        #expect(dump.contains("friendlyName: identity"))
        #expect(dump.contains("-----BEGIN PRIVATE KEY-----"))
        #expect(dump.contains("subject=O = CertAuth Test, CN = Test CA"))

        let info = try OpenSSLCLI.run(
            ["pkcs12", "-in", path, "-passin", "pass:pw", "-info", "-noout"], mergeStandardError: true
        )
        #expect(info.contains("MAC: sha256"), "\(info)")
        #expect(info.contains("PBES2, PBKDF2, AES-256-CBC"), "\(info)")
        #expect(info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"), "\(info)")

        // Wrong password is rejected by openssl too.
        #expect(throws: OpenSSLCLIError.self) {
            try OpenSSLCLI.run(["pkcs12", "-in", path, "-passin", "pass:wrong", "-nodes"])
        }

        let loaded = try KeystoreLoader.load(path: path, password: "pw", alias: "identity", keyPassword: nil, settings: settings)
        #expect(loaded.credential.certificateDER == material.identityCertDER)
        #expect(loaded.credential.chainDER == [material.identityCertDER, material.caCertDER])
        #expect(loaded.aliases == ["identity"])
        #expect(loaded.warnings.isEmpty)
    }

    @Test func opensslExtractsKeyMatchingCertificate() throws {
        let bytes = try PKCS12Writer.write(entries: [identityEntry], password: "pw")
        let path = try temp.write("identity.p12", bytes)
        let keyPEM = temp.file("key.pem")
        try OpenSSLCLI.run(["pkcs12", "-in", path, "-passin", "pass:pw", "-nocerts", "-nodes", "-out", keyPEM])
        let extracted = try OpenSSLCLI.run(["pkey", "-in", keyPEM, "-pubout"])
        let original = try OpenSSLCLI.run(["x509", "-in", material.identityCertPEM, "-noout", "-pubkey"])
        #expect(extracted == original)
    }

    @Test func multiEntryFile() throws {
        let entries = [
            identityEntry,
            PKCS12Entry(alias: "second", privateKeyDER: material.ecKeyDER, certificateDER: material.ecCertDER),
            PKCS12Entry(alias: "ca", privateKeyDER: nil, certificateDER: material.caCertDER),
        ]
        let bytes = try PKCS12Writer.write(entries: entries, password: "store-pw")
        let path = try temp.write("multi.p12", bytes)

        let dump = try OpenSSLCLI.run(["pkcs12", "-in", path, "-passin", "pass:store-pw", "-nodes"])
        for name in ["identity", "second", "ca"] {
            #expect(dump.contains("friendlyName: \(name)"))
        }

        let identity = try KeystoreLoader.load(path: path, password: "store-pw", alias: "identity", keyPassword: nil, settings: settings)
        #expect(identity.aliases == ["identity", "second", "ca"])
        #expect(identity.credential.alias == "identity")
        #expect(identity.credential.certificateDER == material.identityCertDER)
        #expect(identity.credential.chainDER == [material.identityCertDER, material.caCertDER])
        guard case .rsa = identity.credential.privateKey else {
            Issue.record("expected RSA")
            return
        }

        let second = try KeystoreLoader.load(path: path, password: "store-pw", alias: "SECOND", keyPassword: nil, settings: settings)
        #expect(second.credential.alias == "second")
        #expect(second.credential.certificateDER == material.ecCertDER)
        #expect(second.credential.chainDER == [material.ecCertDER])
        guard case .p256 = second.credential.privateKey else {
            Issue.record("expected P-256")
            return
        }

        let several = expectKeystoreError(.unknownAlias, prefix: "Keystore \(path) holds 2 private keys (aliases present: identity, second, ca)") {
            try KeystoreLoader.load(path: path, password: "store-pw", alias: nil, keyPassword: nil, settings: settings)
        }
        #expect(several?.message.contains(settings.alias) == true)

        expectKeystoreError(.noPrivateKey, prefix: "Alias 'ca' in keystore \(path) holds a certificate but no private key") {
            try KeystoreLoader.load(path: path, password: "store-pw", alias: "ca", keyPassword: nil, settings: settings)
        }
        expectKeystoreError(.unknownAlias, prefix: "Alias 'third' not found in keystore \(path); aliases present: identity, second, ca.") {
            try KeystoreLoader.load(path: path, password: "store-pw", alias: "third", keyPassword: nil, settings: settings)
        }
    }

    @Test func separateKeyPassword() throws {
        let storeSecret = "Store-Secret-42"
        let keySecret = "Key-Secret-77"
        let bytes = try PKCS12Writer.write(entries: [identityEntry], password: storeSecret, keyPassword: keySecret)
        let path = try temp.write("twopass.p12", bytes)

        let loaded = try KeystoreLoader.load(path: path, password: storeSecret, alias: "identity", keyPassword: keySecret, settings: settings)
        #expect(loaded.credential.certificateDER == material.identityCertDER)

        var errors: [KeystoreError] = []
        for keyPassword in ["wrong-key-password", nil] {
            let error = expectKeystoreError(
                .wrongKeyPassword, prefix: "Cannot decrypt the private key of alias 'identity' in \(path): wrong key password"
            ) {
                try KeystoreLoader.load(path: path, password: storeSecret, alias: "identity", keyPassword: keyPassword, settings: settings)
            }
            #expect(error?.message.contains(settings.keyPassword) == true)
            errors += error.map { [$0] } ?? []
        }
        if let wrongStore = expectKeystoreError(.wrongPassword, prefix: "Cannot open keystore \(path): wrong password", {
            try KeystoreLoader.load(path: path, password: keySecret, alias: "identity", keyPassword: keySecret, settings: settings)
        }) {
            errors.append(wrongStore)
        }
        #expect(errors.count == 3)
        for error in errors {
            #expect(!error.description.contains(storeSecret))
            #expect(!error.description.contains(keySecret))
            #expect(!error.description.contains("wrong-key-password"))
        }

        // openssl reads it with -twopass semantics: certificates with the store password, key with the key password.
        let dump = try OpenSSLCLI.run([
            "pkcs12", "-in", path, "-passin", "pass:\(storeSecret)", "-nodes", "-nokeys",
        ])
        #expect(dump.contains("friendlyName: identity"))
    }

    @Test func acceptsPKCS1SEC1AndPKCS8Keys() throws {
        let entries = [
            PKCS12Entry(alias: "pkcs1", privateKeyDER: material.identityKeyPKCS1DER, certificateDER: material.identityCertDER),
            PKCS12Entry(alias: "sec1", privateKeyDER: material.ecKeySEC1DER, certificateDER: material.ecCertDER),
        ]
        let bytes = try PKCS12Writer.write(entries: entries, password: "pw")
        for alias in ["pkcs1", "sec1"] {
            let loaded = try KeystoreLoader.load(data: bytes, path: "mem.p12", password: "pw", alias: alias, keyPassword: nil, settings: settings)
            #expect(loaded.credential.alias == alias)
        }
    }

    @Test func roundTripsSigningKeyDER() throws {
        let original = try KeystoreLoader.load(
            data: try PKCS12Writer.write(entries: [identityEntry], password: "pw"),
            path: "a.p12", password: "pw", alias: nil, keyPassword: nil, settings: settings
        ).credential
        let again = try KeystoreLoader.load(
            data: try PKCS12Writer.write(
                entries: [
                    PKCS12Entry(
                        alias: "copy", privateKeyDER: original.privateKey.derRepresentation,
                        certificateDER: original.certificateDER, chainDER: Array(original.chainDER.dropFirst())
                    ),
                ],
                password: ""
            ),
            path: "b.p12", password: "", alias: "copy", keyPassword: nil, settings: settings
        ).credential
        #expect(again.privateKey.derRepresentation == original.privateKey.derRepresentation)
        #expect(again.chainDER == original.chainDER)
    }

    @Test func writerErrors() throws {
        expectKeystoreError(.invalidCertificate, prefix: "Cannot write a PKCS#12 keystore without entries") {
            try PKCS12Writer.write(entries: [], password: "pw")
        }
        expectKeystoreError(.invalidCertificate, prefix: "A certificate of alias 'bad' cannot be parsed") {
            try PKCS12Writer.write(
                entries: [PKCS12Entry(alias: "bad", privateKeyDER: nil, certificateDER: [0x30, 0x03, 0x02, 0x01, 0x01])],
                password: "pw"
            )
        }
        expectKeystoreError(.invalidCertificate, prefix: "A certificate of alias 'identity' cannot be parsed") {
            try PKCS12Writer.write(
                entries: [PKCS12Entry(alias: "identity", privateKeyDER: material.identityKeyDER, certificateDER: material.identityCertDER, chainDER: [[0x01]])],
                password: "pw"
            )
        }
        expectKeystoreError(.unsupportedKey, prefix: "The private key of alias 'identity' cannot be parsed") {
            try PKCS12Writer.write(
                entries: [PKCS12Entry(alias: "identity", privateKeyDER: [0x30, 0x00], certificateDER: material.identityCertDER)],
                password: "pw"
            )
        }
        expectKeystoreError(.keyMismatch, prefix: "The private key of alias 'identity' does not match its certificate") {
            try PKCS12Writer.write(
                entries: [PKCS12Entry(alias: "identity", privateKeyDER: material.ecKeyDER, certificateDER: material.identityCertDER)],
                password: "pw"
            )
        }
        let secret = "Never-Show-Me-1"
        let error = expectKeystoreError(.keyMismatch, prefix: "The private key of alias 'identity' does not match its certificate") {
            try PKCS12Writer.write(
                entries: [PKCS12Entry(alias: "identity", privateKeyDER: material.ecKeyDER, certificateDER: material.identityCertDER)],
                password: secret, keyPassword: secret
            )
        }
        #expect(error?.description.contains(secret) == false)
    }

    @Test func unicodeAliasAndPassword() throws {
        let password = "pässwörd-€"
        let bytes = try PKCS12Writer.write(
            entries: [PKCS12Entry(alias: "Ünïcode", privateKeyDER: material.ecKeyDER, certificateDER: material.ecCertDER)],
            password: password
        )
        let path = try temp.write("unicode.p12", bytes)
        let loaded = try KeystoreLoader.load(path: path, password: password, alias: "ünïcode", keyPassword: nil, settings: settings)
        #expect(loaded.credential.alias == "Ünïcode")
        // openssl accepts the UTF-8 password (it prints BMPString friendly names lossily, so don't compare those).
        let dump = try OpenSSLCLI.run(["pkcs12", "-in", path, "-passin", "pass:\(password)", "-nodes"])
        #expect(dump.contains("-----BEGIN PRIVATE KEY-----"))
    }
}
