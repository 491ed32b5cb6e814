import AsyncHTTPClient
import AuthProtocol
import Crypto
import DevPKI
import Foundation
import Keystore
import ServiceSupport
import SwiftASN1
import Testing
import TestSupport
import TokenIssuer
import WireFormat
import X509

/// The service's own TLS material reloads without restart (issue 16 item 5): a new keystore written in place is served
/// to new connections, a broken one keeps the previous certificate serving and says why in health, and health names
/// the certificate served. The served certificate is read by an independent client, `openssl s_client`.
@Suite(.serialized)
struct ListenerTLSReloadTests {
    /// The SHA-256 of the certificate a new TLS connection to `port` is served (OpenSSL's view), as base64url.
    static func servedThumbprint(port: Int, pki: TestPKI) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost",
            "-cert", pki.path("app.crt"), "-key", pki.path("app.key"), "-alpn", "h2",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard let begin = text.range(of: "-----BEGIN CERTIFICATE-----"), let end = text.range(of: "-----END CERTIFICATE-----") else { return nil }
        let certificate = try Certificate(pemEncoded: String(text[begin.lowerBound..<end.upperBound]))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Base64URL.encode(Array(SHA256.hash(data: serializer.serializedBytes)))
    }

    static func thumbprint(_ issued: IssuedCertificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(issued.certificate)
        return Base64URL.encode(Array(SHA256.hash(data: serializer.serializedBytes)))
    }

    @Test func aNewKeystoreIsServedToNewConnectionsAndABrokenOneKeepsTheOldServing() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        // No IdP is needed for the listener: the token endpoint is never called here.
        let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: 1, extra: ["SERVER_SSL_RELOAD_INTERVAL": "1"])
        try await withServices(issuer.services, logger: logs.logger("group")) {
            let port = await issuer.port.port()
            let first = try #require(try Self.servedThumbprint(port: port, pki: pki))
            #expect(issuer.health.snapshot().components["tls"]?.details?["x5t_s256"] == first)

            // A new certificate for the same service, written over the keystore as a renewal would.
            let ca = try pki.certificateAuthority()
            let renewed = try DevPKI.issueService("token-issuer", ca: ca)
            let p12 = try DevPKI.pkcs12(renewed, alias: "token-issuer", chain: [ca], password: TestPKI.password)
            try Data(p12).write(to: URL(fileURLWithPath: pki.path("token-issuer.p12")))
            let expected = try Self.thumbprint(renewed)
            var served = first
            for _ in 0..<100 where served != expected {
                try await Task.sleep(for: .milliseconds(100))
                served = try Self.servedThumbprint(port: port, pki: pki) ?? served
            }
            #expect(served == expected, "the renewed certificate is served without restart")
            #expect(issuer.health.snapshot().components["tls"]?.details?["x5t_s256"] == expected)
            #expect(issuer.health.snapshot().components["tls"]?.status == "UP")

            // A broken keystore (half written): the renewed certificate keeps serving, health says why.
            try Data(p12.prefix(200)).write(to: URL(fileURLWithPath: pki.path("token-issuer.p12")))
            var status = "UP"
            for _ in 0..<100 where status != "DEGRADED" {
                try await Task.sleep(for: .milliseconds(100))
                status = issuer.health.snapshot().components["tls"]?.status ?? status
            }
            let component = issuer.health.snapshot().components["tls"]
            #expect(component?.status == "DEGRADED")
            #expect(component?.details?["reason"]?.contains("still serving the previous certificate") == true, "\(String(describing: component))")
            #expect(try Self.servedThumbprint(port: port, pki: pki) == expected)
            #expect(logs.all.contains { $0.contains("Listener TLS files changed but do not load") })
            #expect(!logs.all.contains { $0.contains(TestPKI.password) }, "the keystore password never reaches the log")
        }
    }
}
