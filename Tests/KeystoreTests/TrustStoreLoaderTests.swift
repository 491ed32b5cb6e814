import Foundation
import Keystore
import Testing
import TestSupport
import X509

@Suite struct TrustStoreLoaderTests {
    let material: Material
    let temp: TemporaryDirectory
    let setting = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH"

    init() throws {
        material = try Material.get()
        temp = try TemporaryDirectory()
    }

    @Test func pemBundleWithTwoCertificates() throws {
        let bundle = try readBytes(material.caCertPEM) + Array("\n".utf8) + readBytes(material.ecCertPEM)
        let path = try temp.write("bundle.pem", bundle, mode: 0o644)
        for type in [nil, "PEM", "pem"] {
            let certificates = try TrustStoreLoader.load(path: path, password: nil, type: type, setting: setting)
            #expect(certificates.map(\.subject.description) == ["CN=Test CA,O=CertAuth Test", "CN=second"])
        }
    }

    @Test func pemBundleSkipsOtherBlocks() throws {
        let bundle = try readBytes(material.ecKeyPEM) + readBytes(material.caCertPEM)
        let path = try temp.write("mixed.pem", bundle)
        let certificates = try TrustStoreLoader.load(path: path, password: nil, type: nil, setting: setting)
        #expect(certificates.count == 1)

        let keyOnly = try temp.write("key.pem", try readBytes(material.ecKeyPEM))
        expectKeystoreError(.invalidCertificate, prefix: "Truststore \(keyOnly) contains no CERTIFICATE block") {
            try TrustStoreLoader.load(path: keyOnly, password: nil, type: "PEM", setting: setting)
        }
    }

    @Test func pkcs12TruststoreFromOpenSSL() throws {
        let path = temp.file("truststore.p12")
        try material.export(
            to: path, key: nil, certificate: material.caCertPEM, password: "changeit", name: "ca",
            extra: ["-nokeys", "-certfile", material.ecCertPEM]
        )
        for type in [nil, "PKCS12", "p12"] {
            let certificates = try TrustStoreLoader.load(path: path, password: "changeit", type: type, setting: setting)
            #expect(Set(certificates.map(\.subject.description)) == ["CN=Test CA,O=CertAuth Test", "CN=second"])
        }
        let error = expectKeystoreError(.wrongPassword, prefix: "Cannot open truststore \(path): wrong password") {
            try TrustStoreLoader.load(path: path, password: "Bad-Trust-Pw", type: nil, setting: setting)
        }
        #expect(error?.message.contains(setting) == true)
        #expect(error?.description.contains("Bad-Trust-Pw") == false)
        #expect(error?.description.contains("changeit") == false)
    }

    @Test func pkcs12TruststoreFromWriter() throws {
        let bytes = try PKCS12Writer.write(
            entries: [
                PKCS12Entry(alias: "ca", privateKeyDER: nil, certificateDER: material.caCertDER),
                PKCS12Entry(alias: "second", privateKeyDER: nil, certificateDER: material.ecCertDER),
            ],
            password: ""
        )
        let path = try temp.write("trust.p12", bytes)
        let certificates = try TrustStoreLoader.load(path: path, password: nil, type: nil, setting: setting)
        #expect(certificates.count == 2)
        let dump = try OpenSSLCLI.run(["pkcs12", "-in", path, "-passin", "pass:", "-nokeys"])
        #expect(dump.contains("friendlyName: ca") && dump.contains("friendlyName: second"))
    }

    @Test func keystoreWithKeyAsTruststoreDoesNotNeedKeyPassword() throws {
        let bytes = try PKCS12Writer.write(
            entries: [PKCS12Entry(alias: "identity", privateKeyDER: material.identityKeyDER, certificateDER: material.identityCertDER)],
            password: "pw", keyPassword: "different"
        )
        let path = try temp.write("keystore.p12", bytes)
        let certificates = try TrustStoreLoader.load(path: path, password: "pw", type: "PKCS12", setting: setting)
        #expect(certificates.map(\.subject.description) == ["CN=identity,O=CertAuth Test"])
    }

    @Test func jksNeedsConversion() throws {
        let path = try temp.write("truststore.jks", [0xFE, 0xED, 0xFE, 0xED, 0x00, 0x00, 0x00, 0x02])
        for type in [nil, "JKS", "PKCS12"] {
            let error = expectKeystoreError(.notPKCS12, prefix: "\(path) is not a PKCS#12 keystore") {
                try TrustStoreLoader.load(path: path, password: "changeit", type: type, setting: setting)
            }
            #expect(
                error?.message.contains(
                    "keytool -importkeystore -srckeystore truststore.jks -destkeystore truststore.p12 -deststoretype PKCS12"
                ) == true
            )
            #expect(error?.message.contains(setting) == true)
        }
    }

    @Test func errors() throws {
        let missing = temp.file("missing.pem")
        let notFound = expectKeystoreError(.notFound, prefix: "Truststore not found: \(missing)") {
            try TrustStoreLoader.load(path: missing, password: nil, type: nil, setting: setting)
        }
        #expect(notFound?.message.contains(setting) == true)

        let garbage = try temp.write("garbage.bin", [0x01, 0x02, 0x03])
        expectKeystoreError(.notPKCS12, prefix: "\(garbage) is not a PKCS#12 keystore") {
            try TrustStoreLoader.load(path: garbage, password: nil, type: nil, setting: setting)
        }
        expectKeystoreError(.notPKCS12, prefix: "Unsupported truststore type 'JCEKS'") {
            try TrustStoreLoader.load(path: garbage, password: nil, type: "JCEKS", setting: setting)
        }
        let empty = try temp.write("empty.pem", [])
        expectKeystoreError(.invalidCertificate, prefix: "Truststore \(empty) is empty") {
            try TrustStoreLoader.load(path: empty, password: nil, type: nil, setting: setting)
        }
        let broken = try temp.write(
            "broken.pem", Array("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n".utf8)
        )
        expectKeystoreError(.invalidCertificate, prefix: "Certificate 1 in truststore \(broken) cannot be parsed") {
            try TrustStoreLoader.load(path: broken, password: nil, type: nil, setting: setting)
        }
    }
}
