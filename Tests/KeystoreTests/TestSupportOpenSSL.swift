import Foundation
import Keystore
import Testing
import TestSupport

/// Failure of a helper step (openssl CLI, file system).
struct HelperError: Error, CustomStringConvertible {
    var description: String
}

/// A temporary directory removed on deinit.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("keystore-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8], mode: Int = 0o600) throws -> String {
        let target = file(name)
        guard FileManager.default.createFile(atPath: target, contents: Data(bytes)) else {
            throw HelperError(description: "cannot write \(target)")
        }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
        return target
    }
}

func readBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw HelperError(description: "cannot read \(path)")
    }
    return Array(data)
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16)
        return byte < 16 ? "0" + digits : digits
    }.joined()
}

/// Runs `body`, expects a `KeystoreError` with `code` whose message starts with `prefix`; returns the error.
@discardableResult
func expectKeystoreError<T>(
    _ code: KeystoreError.Code,
    prefix: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) -> KeystoreError? {
    do {
        _ = try body()
        Issue.record("expected KeystoreError \(code), got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as KeystoreError {
        #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.hasPrefix(prefix), "message: \(error.message)", sourceLocation: sourceLocation)
        #expect(error.description == error.message, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected KeystoreError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The caller's names for its settings (token-issuer passes its `CAMUNDA_*` variables): messages must name these.
let settings = KeystoreSettingNames(
    path: "TEST_KEYSTORE_PATH", password: "TEST_KEYSTORE_PASSWORD", alias: "TEST_KEY_ALIAS",
    keyPassword: "TEST_KEY_PASSWORD", certificate: "TEST_CERTIFICATE", privateKey: "TEST_PRIVATE_KEY")

/// A listener's names (the service kit's `KeystoreSettingNames.serverSSL`, which this target does not link).
let serverSettings = KeystoreSettingNames(
    path: "SERVER_SSL_KEY_STORE", password: "SERVER_SSL_KEY_STORE_PASSWORD", alias: "SERVER_SSL_KEY_ALIAS",
    keyPassword: "SERVER_SSL_KEY_PASSWORD", certificate: "SERVER_SSL_CERTIFICATE", privateKey: "SERVER_SSL_CERTIFICATE_PRIVATE_KEY")

private let materialDirectory = FileManager.default.temporaryDirectory
    .appendingPathComponent("keystore-material-\(UUID().uuidString)").path

/// Keys and certificates generated once with the openssl CLI and shared by all tests.
struct Material: Sendable {
    let directory: String

    let caCertPEM: String
    let caCertDER: [UInt8]

    /// RSA 2048 leaf "CN=identity" issued by the CA (the seed's private-key.pem / certificate.pem).
    let identityKeyPEM: String
    let identityCertPEM: String
    let identityKeyDER: [UInt8]       // PKCS#8
    let identityKeyPKCS1DER: [UInt8]  // PKCS#1
    let identityCertDER: [UInt8]

    /// EC P-256 self-signed "CN=second".
    let ecKeyPEM: String
    let ecCertPEM: String
    let ecKeyDER: [UInt8]      // PKCS#8
    let ecKeySEC1DER: [UInt8]  // SEC1
    let ecCertDER: [UInt8]

    /// EC P-384 self-signed "CN=p384".
    let p384KeyPEM: String
    let p384CertPEM: String

    /// Two self-signed RSA certificates with identical subject and serial (same DER length).
    let twinAKeyPEM: String
    let twinACertPEM: String
    let twinACertDER: [UInt8]
    let twinBCertDER: [UInt8]

    let rsa1024KeyPEM: String
    let rsa1024CertPEM: String
    let ed25519KeyPEM: String
    let ed25519CertPEM: String

    static let shared: Result<Material, any Error> = Result { try Material.make() }

    static func get() throws -> Material {
        try shared.get()
    }

    private static func make() throws -> Material {
        let dir = materialDirectory
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Remove the shared material when the test process exits.
        atexit {
            try? FileManager.default.removeItem(atPath: materialDirectory)
        }
        func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
        func run(_ arguments: [String]) throws { try OpenSSLCLI.run(arguments, in: dir) }
        func selfSigned(_ name: String, _ keyArguments: [String], subject: String, serial: String? = nil) throws {
            var arguments = ["req", "-x509"] + keyArguments + [
                "-nodes", "-keyout", path("\(name)-key.pem"), "-out", path("\(name)-cert.pem"),
                "-days", "365", "-subj", subject,
            ]
            if let serial {
                arguments += ["-set_serial", serial]
            }
            try run(arguments)
        }
        func der(certificate name: String) throws -> [UInt8] {
            try run(["x509", "-in", path(name), "-outform", "DER", "-out", path(name + ".der")])
            return try readBytes(path(name + ".der"))
        }
        func der(key name: String, traditional: Bool = false) throws -> [UInt8] {
            let out = path(name + (traditional ? ".trad.der" : ".der"))
            try run(["pkey", "-in", path(name), "-outform", "DER", "-out", out] + (traditional ? ["-traditional"] : []))
            return try readBytes(out)
        }

        // CA and leaf issued by it.
        try selfSigned("ca", ["-newkey", "rsa:2048"], subject: "/O=CertAuth Test/CN=Test CA")
        try run([
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path("private-key.pem"),
            "-out", path("identity.csr"), "-subj", "/O=CertAuth Test/CN=identity",
        ])
        let extensions = """
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            subjectKeyIdentifier=hash
            authorityKeyIdentifier=keyid
            """
        guard FileManager.default.createFile(atPath: path("leaf.ext"), contents: Data(extensions.utf8)) else {
            throw HelperError(description: "cannot write leaf.ext")
        }
        try run([
            "x509", "-req", "-in", path("identity.csr"), "-CA", path("ca-cert.pem"), "-CAkey", path("ca-key.pem"),
            "-set_serial", "4660", "-days", "365", "-extfile", path("leaf.ext"), "-out", path("certificate.pem"),
        ])

        try selfSigned("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], subject: "/CN=second")
        try run(["ec", "-in", path("ec-key.pem"), "-outform", "DER", "-out", path("ec-key.sec1.der")])
        try selfSigned("p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], subject: "/CN=p384")
        try selfSigned("twin-a", ["-newkey", "rsa:2048"], subject: "/CN=twin", serial: "1")
        try selfSigned("twin-b", ["-newkey", "rsa:2048"], subject: "/CN=twin", serial: "1")
        try selfSigned("rsa1024", ["-newkey", "rsa:1024"], subject: "/CN=small")
        try selfSigned("ed25519", ["-newkey", "ed25519"], subject: "/CN=edwards")

        return Material(
            directory: dir,
            caCertPEM: path("ca-cert.pem"),
            caCertDER: try der(certificate: "ca-cert.pem"),
            identityKeyPEM: path("private-key.pem"),
            identityCertPEM: path("certificate.pem"),
            identityKeyDER: try der(key: "private-key.pem"),
            identityKeyPKCS1DER: try der(key: "private-key.pem", traditional: true),
            identityCertDER: try der(certificate: "certificate.pem"),
            ecKeyPEM: path("ec-key.pem"),
            ecCertPEM: path("ec-cert.pem"),
            ecKeyDER: try der(key: "ec-key.pem"),
            ecKeySEC1DER: try readBytes(path("ec-key.sec1.der")),
            ecCertDER: try der(certificate: "ec-cert.pem"),
            p384KeyPEM: path("p384-key.pem"),
            p384CertPEM: path("p384-cert.pem"),
            twinAKeyPEM: path("twin-a-key.pem"),
            twinACertPEM: path("twin-a-cert.pem"),
            twinACertDER: try der(certificate: "twin-a-cert.pem"),
            twinBCertDER: try der(certificate: "twin-b-cert.pem"),
            rsa1024KeyPEM: path("rsa1024-key.pem"),
            rsa1024CertPEM: path("rsa1024-cert.pem"),
            ed25519KeyPEM: path("ed25519-key.pem"),
            ed25519CertPEM: path("ed25519-cert.pem")
        )
    }

    /// `openssl pkcs12 -export` into `output` with the given extra arguments.
    func export(
        to output: String,
        key: String?,
        certificate: String,
        password: String = "pw",
        name: String? = "identity",
        extra: [String] = []
    ) throws {
        var arguments = ["pkcs12", "-export", "-out", output]
        if let key {
            arguments += ["-inkey", key]
        }
        arguments += ["-in", certificate, "-password", "pass:\(password)"]
        if let name {
            arguments += ["-name", name]
        }
        try OpenSSLCLI.run(arguments + extra)
    }
}
