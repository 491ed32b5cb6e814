import Foundation
import Keystore
import Testing
import TestSupport
import X509

/// PEM certificate + key files, the Kubernetes TLS secret directory layout, and cert-manager's PKCS#12 profiles.
@Suite struct PEMCredentialTests {
    let material: Material
    let temp: TemporaryDirectory

    init() throws {
        material = try Material.get()
        temp = try TemporaryDirectory()
    }

    private func copy(_ source: String, to name: String, in directory: String? = nil, mode: Int = 0o600) throws -> String {
        let target = ((directory ?? temp.path) as NSString).appendingPathComponent(name)
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: source, toPath: target)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
        return target
    }

    @Test func pemPairLoadsWithChainLeafFirst() throws {
        // cert-manager's tls.crt: leaf then issuer.
        let chainPEM = try String(contentsOfFile: material.identityCertPEM, encoding: .utf8) + String(contentsOfFile: material.caCertPEM, encoding: .utf8)
        let certificate = try temp.write("tls.crt", Array(chainPEM.utf8), mode: 0o644)
        let key = try copy(material.identityKeyPEM, to: "tls.key")
        let loaded = try PEMCredentialLoader.load(certificatePath: certificate, privateKeyPath: key, settings: settings)
        #expect(loaded.credential.certificateDER == material.identityCertDER)
        #expect(loaded.credential.chainDER == [material.identityCertDER, material.caCertDER])
        #expect(loaded.credential.privateKey.certificatePublicKey == loaded.credential.certificate.publicKey)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.credential.rsaSigner != nil)
    }

    @Test func pkcs1AndSEC1AndP384KeysLoad() throws {
        // PKCS#1 "RSA PRIVATE KEY" as older tools write it.
        let pkcs1 = temp.file("rsa.key")
        try OpenSSLCLI.run(["pkey", "-in", material.identityKeyPEM, "-traditional", "-out", pkcs1])
        #expect(try String(contentsOfFile: pkcs1, encoding: .utf8).hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        let rsa = try PEMCredentialLoader.load(certificatePath: material.identityCertPEM, privateKeyPath: pkcs1, settings: settings)
        #expect(rsa.credential.certificateDER == material.identityCertDER)

        let sec1 = temp.file("ec.key")
        try OpenSSLCLI.run(["ec", "-in", material.ecKeyPEM, "-out", sec1])
        #expect(try String(contentsOfFile: sec1, encoding: .utf8).hasPrefix("-----BEGIN EC PRIVATE KEY-----"))
        let ec = try PEMCredentialLoader.load(certificatePath: material.ecCertPEM, privateKeyPath: sec1, settings: settings)
        guard case .p256 = ec.credential.privateKey else {
            Issue.record("expected a P-256 key")
            return
        }
        let p384 = try PEMCredentialLoader.load(certificatePath: material.p384CertPEM, privateKeyPath: material.p384KeyPEM, settings: settings)
        guard case .p384 = p384.credential.privateKey else {
            Issue.record("expected a P-384 key")
            return
        }
    }

    @Test func mismatchedKeyAndCertificateNameBothFiles() throws {
        let certificate = try copy(material.identityCertPEM, to: "tls.crt", mode: 0o644)
        let key = try copy(material.twinAKeyPEM, to: "tls.key")
        let error = expectKeystoreError(.keyMismatch, prefix: "The private key in \(key) does not match the certificate in \(certificate)") {
            try PEMCredentialLoader.load(certificatePath: certificate, privateKeyPath: key, settings: settings)
        }
        #expect(error?.message.contains(settings.certificate) == true)
        #expect(error?.message.contains(settings.privateKey) == true)
    }

    @Test func badFilesGetClearErrors() throws {
        let certificate = try copy(material.identityCertPEM, to: "tls.crt", mode: 0o644)
        expectKeystoreError(.notFound, prefix: "Private key file not found: \(temp.file("absent.key")); check \(settings.privateKey)") {
            try PEMCredentialLoader.load(certificatePath: certificate, privateKeyPath: temp.file("absent.key"), settings: settings)
        }
        // The key file where the certificate belongs.
        expectKeystoreError(.invalidCertificate, prefix: "\(material.identityKeyPEM) holds no -----BEGIN CERTIFICATE----- block") {
            try PEMCredentialLoader.load(certificatePath: material.identityKeyPEM, privateKeyPath: material.identityKeyPEM, settings: settings)
        }
        expectKeystoreError(.noPrivateKey, prefix: "\(certificate) holds no private key") {
            try PEMCredentialLoader.load(certificatePath: certificate, privateKeyPath: certificate, settings: settings)
        }
        // A PKCS#12 file named as PEM.
        let p12 = temp.file("identity.p12")
        try material.export(to: p12, key: material.identityKeyPEM, certificate: material.identityCertPEM)
        expectKeystoreError(.invalidCertificate, prefix: "\(p12) is not a PEM file") {
            try PEMCredentialLoader.load(certificatePath: p12, privateKeyPath: material.identityKeyPEM, settings: settings)
        }
        expectKeystoreError(.unsupportedKey, prefix: "The private key in \(material.rsa1024KeyPEM) is an RSA key of 1024 bits") {
            try PEMCredentialLoader.load(certificatePath: material.rsa1024CertPEM, privateKeyPath: material.rsa1024KeyPEM, settings: settings)
        }
        expectKeystoreError(.unsupportedKey, prefix: "The private key in \(material.ed25519KeyPEM) is a Ed25519 key") {
            try PEMCredentialLoader.load(certificatePath: material.ed25519CertPEM, privateKeyPath: material.ed25519KeyPEM, settings: settings)
        }
        let encrypted = temp.file("encrypted.key")
        try OpenSSLCLI.run(["pkcs8", "-topk8", "-in", material.identityKeyPEM, "-out", encrypted, "-passout", "pass:pw"])
        let error = expectKeystoreError(.unsupportedKey, prefix: "The private key in \(encrypted) is encrypted") {
            try PEMCredentialLoader.load(certificatePath: certificate, privateKeyPath: encrypted, settings: settings)
        }
        #expect(error?.message.contains("pw") == false)
        // A key readable by everyone loads, with a warning.
        let open = try copy(material.identityKeyPEM, to: "open.key", mode: 0o644)
        let loaded = try PEMCredentialLoader.load(certificatePath: certificate, privateKeyPath: open, settings: settings)
        #expect(loaded.warnings.contains { $0.hasPrefix("Private key file \(open) is readable by every user (mode 0644)") })
    }

    /// A keystore path naming a directory in the Kubernetes TLS secret layout, mounted the way the kubelet does it:
    /// `tls.crt -> ..data/tls.crt`, `..data -> ..<timestamp>`, swapped atomically by renaming a new `..data` link.
    @Test func kubernetesSecretDirectoryWithAtomicSwap() throws {
        let volume = temp.file("secret")
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        func publish(_ version: String, certificate: String, key: String) throws {
            let directory = (volume as NSString).appendingPathComponent("..\(version)")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = try copy(certificate, to: "tls.crt", in: directory, mode: 0o644)
            _ = try copy(key, to: "tls.key", in: directory)
            _ = try copy(material.caCertPEM, to: "ca.crt", in: directory, mode: 0o644)
            let staging = (volume as NSString).appendingPathComponent("..data_tmp")
            try? FileManager.default.removeItem(atPath: staging)
            try FileManager.default.createSymbolicLink(atPath: staging, withDestinationPath: "..\(version)")
            #expect(rename(staging, (volume as NSString).appendingPathComponent("..data")) == 0)
        }
        try publish("2026_01", certificate: material.identityCertPEM, key: material.identityKeyPEM)
        for name in ["tls.crt", "tls.key", "ca.crt"] {
            try FileManager.default.createSymbolicLink(
                atPath: (volume as NSString).appendingPathComponent(name), withDestinationPath: "..data/\(name)")
        }

        let first = try KeystoreLoader.load(path: volume, password: "", alias: nil, keyPassword: nil, settings: settings)
        #expect(first.credential.certificateDER == material.identityCertDER)
        #expect(PEMCredentialLoader.files(path: volume).count == 3)
        let digest = try #require(PEMCredentialLoader.contentDigest(path: volume))
        #expect(PEMCredentialLoader.contentDigest(path: volume) == digest, "unchanged files give the same digest")
        let trust = try TrustStoreLoader.load(path: volume, password: nil, type: nil, setting: "SERVER_SSL_TRUST_STORE")
        #expect(trust.map(\.subject.description) == ["CN=Test CA,O=CertAuth Test"])

        try publish("2026_02", certificate: material.ecCertPEM, key: material.ecKeyPEM)
        #expect(PEMCredentialLoader.contentDigest(path: volume) != digest, "the swap changes the digest")
        let second = try KeystoreLoader.load(path: volume, password: "", alias: nil, keyPassword: nil, settings: settings)
        #expect(second.credential.certificateDER == material.ecCertDER)

        let empty = temp.file("empty-dir")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        expectKeystoreError(.notFound, prefix: "Keystore directory \(empty) has no tls.crt") {
            try KeystoreLoader.load(path: empty, password: "", alias: nil, keyPassword: nil, settings: settings)
        }
    }

    @Test func pemFileAsKeystoreSuggestsThePEMSettings() throws {
        let error = expectKeystoreError(.notPKCS12, prefix: "\(material.identityCertPEM) is not a PKCS#12 keystore: it is a PEM file") {
            try KeystoreLoader.load(path: material.identityCertPEM, password: "pw", alias: nil, keyPassword: nil, settings: serverSettings)
        }
        #expect(error?.message.contains("SERVER_SSL_CERTIFICATE_PRIVATE_KEY") == true)
        #expect(error?.message.contains("tls.crt and tls.key") == true)
    }

    /// cert-manager's `spec.keystores.pkcs12.profile`: LegacyRC2 (its default: RC2-40 certificates, 3DES key, SHA-1
    /// MAC, as `openssl pkcs12 -export -legacy` writes) and Modern2023 (AES-256-CBC with PBKDF2, SHA-256 MAC).
    @Test(arguments: [
        ("LegacyRC2", ["-legacy"]),
        ("LegacyDES", ["-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"]),
        ("Modern2023", ["-certpbe", "AES-256-CBC", "-keypbe", "AES-256-CBC", "-macalg", "sha256", "-iter", "600000"]),
    ])
    func certManagerPKCS12Profiles(profile: String, arguments: [String]) throws {
        let path = temp.file("keystore-\(profile).p12")
        // cert-manager writes the chain (leaf and CA) and no friendly name is needed to select the only key.
        let chain = temp.file("chain-\(profile).pem")
        let chainPEM = try String(contentsOfFile: material.identityCertPEM, encoding: .utf8) + String(contentsOfFile: material.caCertPEM, encoding: .utf8)
        try Data(chainPEM.utf8).write(to: URL(fileURLWithPath: chain))
        try material.export(to: path, key: material.identityKeyPEM, certificate: chain, password: "cert-manager-pw", name: nil, extra: arguments)
        let info = try OpenSSLCLI.run(["pkcs12", "-info", "-noout", "-in", path, "-passin", "pass:cert-manager-pw"] + (profile == "Modern2023" ? [] : ["-legacy"]), mergeStandardError: true)
        if profile == "LegacyRC2" { #expect(info.contains("RC2"), "\(info)") }
        if profile == "Modern2023" { #expect(info.contains("AES-256-CBC"), "\(info)") }
        let loaded = try KeystoreLoader.load(path: path, password: "cert-manager-pw", alias: nil, keyPassword: nil, settings: settings)
        #expect(loaded.credential.certificateDER == material.identityCertDER)
        #expect(loaded.credential.chainDER == [material.identityCertDER, material.caCertDER])
    }
}
