import DevPKI
import Foundation
import Keystore
import SwiftASN1
import Testing
import TestSupport
import X509

/// What `DevPKI.initialize` (`certauth pki init`) writes, read by an independent implementation: every certificate
/// chains to `ca.crt` under `openssl verify`, every key and keystore is mode 0600 and every certificate 0644, the keys
/// match their certificates, and the PKCS#12 files open with the password. (`IntermediarySchemeTests` runs the CLI.)
@Suite struct DevPKILayoutTests {
    static let password = "layout-Pa55"

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test(arguments: DevPKI.Scheme.allCases)
    func everyFileHasItsModeAndEveryCertificateChainsToTheRoot(scheme: DevPKI.Scheme) throws {
        let directory = NSTemporaryDirectory() + "certauth-devpki-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let summary = try DevPKI.initialize(directory: directory, password: Self.password, scheme: scheme)
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        let secrets = summary.files.filter { $0.hasSuffix(".key") || $0.hasSuffix(".p12") }
        let certificates = summary.files.filter { $0.hasSuffix(".crt") || $0.hasSuffix(".cer") || $0.hasSuffix(".pem") }
        #expect(secrets.count + certificates.count == summary.files.count, "unclassified files: \(summary.files)")
        #expect(Set(["ca.key", "client.key", "app.key", "identity.p12", "authn.p12", "token-issuer.p12"]).isSubset(of: Set(secrets)))
        #expect(scheme == .intermediary ? secrets.contains("intermediary.p12") : !secrets.contains("intermediary.p12"))
        for name in secrets { #expect(try Self.mode(path(name)) == 0o600, "\(name) must be 0600") }
        for name in certificates { #expect(try Self.mode(path(name)) == 0o644, "\(name) must be 0644") }

        // openssl builds each path itself: through the intermediary (given as untrusted) when the scheme has one.
        var verify = ["verify", "-CAfile", path("ca.crt")]
        if scheme == .intermediary { verify += ["-untrusted", path("intermediary.crt")] }
        for name in certificates where name != "ca.crt" && name != "truststore.pem" {
            let output = try OpenSSLCLI.run(verify + [path(name)])
            #expect(output.contains(": OK"), "\(name): \(output)")
        }

        // Each key file holds the key of its certificate (the leaf is the first certificate of the file).
        for (key, certificate) in [("client.key", "client.crt"), ("app.key", "app.crt"), ("ca.key", "ca.crt")] {
            let fromKey = try OpenSSLCLI.run(["pkey", "-in", path(key), "-pubout"])
            let fromCertificate = try OpenSSLCLI.run(["x509", "-in", path(certificate), "-noout", "-pubkey"])
            #expect(fromKey == fromCertificate, "\(key) does not match \(certificate)")
        }

        // The keystores open with the password (openssl's PKCS#12 reader), the identity as the summary says.
        for service in DevPKI.services {
            let certificatesInside = try OpenSSLCLI.run(
                ["pkcs12", "-in", path("\(service).p12"), "-passin", "pass:\(Self.password)", "-nokeys"])
            let count = certificatesInside.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
            #expect(count == (scheme == .intermediary ? 3 : 2), "\(service).p12 holds \(count) certificates")
        }
        let identity = try Certificate(pemEncoded: String(contentsOfFile: path("identity.cer"), encoding: .utf8))
        #expect(identity == summary.identity.certificate)
    }

    @Test func aWrongPasswordDoesNotOpenTheKeystores() throws {
        let directory = NSTemporaryDirectory() + "certauth-devpki-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try DevPKI.initialize(directory: directory, password: Self.password)
        #expect(throws: OpenSSLCLIError.self) {
            try OpenSSLCLI.run(["pkcs12", "-in", directory + "/authn.p12", "-passin", "pass:not-\(Self.password)", "-nokeys"])
        }
    }
}
