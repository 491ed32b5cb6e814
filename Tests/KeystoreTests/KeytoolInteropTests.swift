import Foundation
import Keystore
import Testing
import X509

/// Runs the JDK keytool (these tests are skipped when no JDK is installed).
enum Keytool {
    static let executable: String? = {
        let candidates = ["/usr/bin/keytool"] + (ProcessInfo.processInfo.environment["JAVA_HOME"].map { ["\($0)/bin/keytool"] } ?? [])
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static var available: Bool { executable != nil }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        guard let executable else {
            throw HelperError(description: "keytool not installed")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw HelperError(description: "keytool \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

@Suite(.enabled(if: Keytool.available, "needs a JDK keytool"))
struct KeytoolInteropTests {
    let material: Material
    let temp: TemporaryDirectory

    init() throws {
        material = try Material.get()
        temp = try TemporaryDirectory()
    }

    @Test func keytoolReadsWriterOutput() throws {
        let bytes = try PKCS12Writer.write(
            entries: [
                PKCS12Entry(
                    alias: "identity", privateKeyDER: material.identityKeyDER, certificateDER: material.identityCertDER,
                    chainDER: [material.caCertDER]
                ),
                PKCS12Entry(alias: "ca", privateKeyDER: nil, certificateDER: material.caCertDER),
            ],
            password: "changeit"
        )
        let path = try temp.write("written.p12", bytes)
        let listing = try Keytool.run(["-list", "-keystore", path, "-storetype", "PKCS12", "-storepass", "changeit"])
        #expect(listing.contains("Your keystore contains 2 entries"), "\(listing)")
        #expect(listing.range(of: #"identity, .*PrivateKeyEntry"#, options: .regularExpression) != nil, "\(listing)")
        #expect(listing.range(of: #"ca, .*trustedCertEntry"#, options: .regularExpression) != nil, "\(listing)")
    }

    @Test func loaderReadsKeytoolKeystoreAndTruststore() throws {
        let keystore = temp.file("keytool.p12")
        try Keytool.run([
            "-genkeypair", "-alias", "MyKey", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=keytool",
            "-validity", "20", "-keystore", keystore, "-storetype", "PKCS12", "-storepass", "changeit",
        ])
        try Keytool.run([
            "-importcert", "-noprompt", "-alias", "Issuer", "-file", material.caCertPEM,
            "-keystore", keystore, "-storetype", "PKCS12", "-storepass", "changeit",
        ])
        // keytool (JDK 17) lower-cases the alias of -genkeypair but keeps the case of -importcert;
        // selection is case-insensitive either way.
        let loaded = try KeystoreLoader.load(path: keystore, password: "changeit", alias: "MyKey", keyPassword: nil, settings: settings)
        #expect(loaded.credential.alias == "mykey")
        #expect(loaded.aliases == ["mykey", "Issuer"])
        #expect(loaded.credential.subject == "CN=keytool")
        guard case .p256 = loaded.credential.privateKey else {
            Issue.record("expected P-256")
            return
        }
        // Valid for 20 days: expiry warning.
        #expect(loaded.warnings.contains { $0.hasPrefix("Certificate of alias 'mykey' (subject CN=keytool) expires on ") })

        expectKeystoreError(.noPrivateKey, prefix: "Alias 'issuer' in keystore \(keystore) holds a certificate but no private key") {
            try KeystoreLoader.load(path: keystore, password: "changeit", alias: "issuer", keyPassword: nil, settings: settings)
        }
        let trusted = try TrustStoreLoader.load(path: keystore, password: "changeit", type: nil, setting: "TRUSTSTORE_PATH")
        #expect(trusted.count == 2)

        let jks = temp.file("keystore.jks")
        try Keytool.run([
            "-genkeypair", "-alias", "old", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=old",
            "-keystore", jks, "-storetype", "JKS", "-storepass", "changeit", "-keypass", "changeit",
        ])
        let error = expectKeystoreError(.notPKCS12, prefix: "\(jks) is not a PKCS#12 keystore: it is a Java KeyStore (JKS)") {
            try KeystoreLoader.load(path: jks, password: "changeit", alias: nil, keyPassword: nil, settings: serverSettings)
        }
        #expect(error?.message.contains("SERVER_SSL_KEY_STORE") == true)
    }
}
