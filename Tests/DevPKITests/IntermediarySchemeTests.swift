import Foundation
import Testing
import TestSupport

/// `certauth pki init --scheme intermediary` as a process, its chains checked by OpenSSL (an independent verifier).
@Suite struct IntermediarySchemeTests {
    static var binDir: String {
        ProcessInfo.processInfo.environment["CERTAUTH_BIN_DIR"] ?? FileManager.default.currentDirectoryPath + "/.build/debug"
    }

    /// Runs `executable` with `arguments`; returns exit status and combined output.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func intermediarySchemeWritesTheSeedsOption1Chains() throws {
        let directory = NSTemporaryDirectory() + "certauth-scheme-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let password = "scheme-Pa55"
        let created = try Self.run("\(Self.binDir)/certauth", ["pki", "init", "--out", directory, "--password", password, "--scheme", "intermediary"])
        #expect(created.status == 0, "\(created.output)")
        #expect(created.output.contains("CN=shared-intermediary, OU=Zeebe, O=CertAuth dev"))
        #expect(!created.output.contains(password))
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        // Root → intermediary → component: OpenSSL builds the chain only through the intermediary.
        for leaf in ["identity.cer", "authn.crt", "token-issuer.crt"] {
            let verified = try Self.run("/usr/bin/openssl", ["verify", "-CAfile", path("ca.crt"), "-untrusted", path("intermediary.crt"), path(leaf)])
            #expect(verified.status == 0, "\(leaf): \(verified.output)")
            let alone = try Self.run("/usr/bin/openssl", ["verify", "-CAfile", path("ca.crt"), path(leaf)])
            #expect(alone.status != 0, "\(leaf) must not chain to the root without the intermediary")
        }
        let intermediary = try Self.run("/usr/bin/openssl", ["verify", "-CAfile", path("ca.crt"), path("intermediary.crt")])
        #expect(intermediary.status == 0, "\(intermediary.output)")

        // The PKCS#12 holds leaf, intermediary and root; client.crt holds leaf and intermediary (what curl sends).
        let p12 = try Self.run("/usr/bin/openssl", ["pkcs12", "-in", path("identity.p12"), "-passin", "pass:\(password)", "-nokeys"])
        #expect(p12.status == 0, "\(p12.output)")
        #expect(p12.output.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 == 3)
        let client = try String(contentsOfFile: path("client.crt"), encoding: .utf8)
        #expect(client.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1 == 2)

        let flatDirectory = directory + "-flat"
        defer { try? FileManager.default.removeItem(atPath: flatDirectory) }
        let flat = try Self.run("\(Self.binDir)/certauth", ["pki", "init", "--out", flatDirectory, "--password", password])
        #expect(flat.status == 0, "\(flat.output)")
        #expect(!FileManager.default.fileExists(atPath: flatDirectory + "/intermediary.crt"))

        let bad = try Self.run("\(Self.binDir)/certauth", ["pki", "init", "--out", directory + "-bad", "--scheme", "chain"])
        #expect(bad.status != 0)
        #expect(bad.output.contains("--scheme 'chain' is not supported; expected flat or intermediary"))
    }
}
