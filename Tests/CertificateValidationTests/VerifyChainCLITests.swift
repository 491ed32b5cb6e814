import CertificateValidation
import Foundation
import SwiftASN1
import Testing
import X509

/// `certauth verify-chain` as a process (the binary that `swift build` puts in `.build/debug`, or `$CERTAUTH_BIN_DIR`).
@Suite struct VerifyChainCLITests {
    static let binary: String = {
        let directory = ProcessInfo.processInfo.environment["CERTAUTH_BIN_DIR"]
            ?? FileManager.default.currentDirectoryPath + "/.build/debug"
        return directory + "/certauth"
    }()

    func certauth(_ arguments: [String]) throws -> ProcessOutput {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw HelperError(description: "\(Self.binary) is missing: run swift build first (or set CERTAUTH_BIN_DIR)")
        }
        return try runProcess(Self.binary, ["verify-chain"] + arguments)
    }

    @Test func validChainAsJSON() throws {
        let pki = try SeedPKI.get()
        let result = try certauth([
            "--trusted", pki.path("rootCA.crt"), "--intermediates", pki.path("zic.crt"),
            "--leaf", pki.path("tasklist.crt"), "--json",
        ])
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == true)
        #expect(object["reason"] is NSNull)
        #expect(object["principal"] as? String == "tasklist")
        let chain = try #require(object["chain"] as? [[String: Any]])
        #expect(chain.map { $0["subject"] as? String } == [
            "CN=tasklist, OU=Tasklist, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=tasklist@camunda.com",
            "CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE",
            "CN=Camunda Root CA, O=Camunda, L=Berlin, ST=BE, C=DE",
        ])
        #expect(chain[0]["issuer"] as? String == "CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE")
        #expect((chain[0]["x5t#S256"] as? String)?.count == 43)
        #expect((chain[0]["not_after"] as? String).flatMap { try? Date($0, strategy: .iso8601) } != nil)
        // The issuer's public-key digest (what mapping rules pin) as OpenSSL computes it from the certificate.
        let openssl = try runProcess("/bin/sh", ["-c", "openssl x509 -in '\(pki.path("zic.crt"))' -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r"])
        let expected = try #require(openssl.output.split(separator: " ").first.map(String.init))
        #expect(expected.count == 64)
        #expect(chain[1]["spki_sha256"] as? String == expected)
    }

    @Test func validChainAsText() throws {
        let pki = try SeedPKI.get()
        let directory = try TemporaryDirectory()
        // The leaf file may carry the chain itself; --trusted takes a comma list like the environment variable.
        let bundle = try directory.write("chain.pem", try pki.text("tasklist.crt") + pki.text("zic.crt"))
        let result = try certauth(["--trusted", pki.path("otherCA.crt") + "," + pki.path("rootCA.crt"), "--leaf", bundle])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("VALID\n"))
        #expect(result.output.contains("CN=zeebe, OU=Zeebe"))
        #expect(result.output.contains("principal: tasklist"))
    }

    @Test func invalidChainExitsOneWithTheReason() throws {
        let pki = try SeedPKI.get()
        let wrongCA = try certauth(["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("intruder.crt")])
        #expect(wrongCA.status == 1)
        #expect(wrongCA.output.hasPrefix("INVALID: certificate 'CN=intruder"))
        #expect(wrongCA.output.contains("add the CA to --trusted or send the intermediate"))

        let server = try certauth(["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("webserver.crt"), "--json"])
        #expect(server.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(server.output.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == false)
        #expect(object["code"] as? String == "wrongPurpose")
        #expect((object["reason"] as? String)?.contains("extendedKeyUsage=clientAuth") == true)
        #expect(object["principal"] is NSNull)
        // The same certificate is fine for a server.
        #expect(try certauth(["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("webserver.crt"), "--purpose", "server"]).status == 0)
    }

    @Test func validationTimeAgreesWithOpenSSLAttime() throws {
        let pki = try SeedPKI.get()
        func both(_ leaf: String, at date: Date) throws -> (ours: ProcessOutput, openssl: ProcessOutput) {
            let ours = try certauth(["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path(leaf), "--at", date.formatted(.iso8601)])
            let openssl = try runProcess("/usr/bin/openssl", [
                "verify", "-purpose", "sslclient", "-attime", String(Int(date.timeIntervalSince1970)),
                "-CAfile", pki.path("rootCA.crt"), pki.path(leaf),
            ])
            return (ours, openssl)
        }
        // Tomorrow: valid for both.
        let tomorrow = try both("operate.crt", at: Date().addingTimeInterval(86_400))
        #expect(tomorrow.ours.status == 0, "\(tomorrow.ours.output)")
        #expect(tomorrow.openssl.status == 0, "\(tomorrow.openssl.output)")
        // In 2020 the old certificate was valid, but the root CA (made today) was not yet.
        let early = try both("old.crt", at: try Date("2020-06-01T00:00:00Z", strategy: .iso8601))
        #expect(early.ours.status == 1)
        #expect(early.openssl.status != 0)
        #expect(early.ours.output.contains("INVALID: trusted CA 'CN=Camunda Root CA, O=Camunda, L=Berlin, ST=BE, C=DE' is not valid before"))
        #expect(early.ours.output.contains("(checked at 2020-06-01T00:00:00Z)"))
        // In twenty years the seed's ten-year certificates have expired.
        let late = try both("operate.crt", at: Date().addingTimeInterval(20 * 365 * 86_400))
        #expect(late.ours.status == 1)
        #expect(late.openssl.status != 0)
        #expect(late.ours.output.contains("expired at"))
        // Without --at: now.
        let now = try certauth(["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("old.crt")])
        #expect(now.status == 1)
        #expect(now.output.contains("expired at 2021-01-01T00:00:00Z"))
    }

    @Test func pinnedLeafWithoutChainValidation() throws {
        let pki = try SeedPKI.get()
        let listed = try certauth(["--trusted", pki.path("operate.crt"), "--leaf", pki.path("operate.crt"), "--require-valid-chain", "false"])
        #expect(listed.status == 0, "\(listed.output)")
        let notListed = try certauth([
            "--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("operate.crt"), "--require-valid-chain", "false",
        ])
        #expect(notListed.status == 1)
        #expect(notListed.output.contains("--require-valid-chain=false"))
    }

    @Test(arguments: [
        (["--leaf", "LEAF"], "--trusted CA.pem is required"),
        (["--trusted", "ROOT"], "--leaf LEAF.pem is required"),
        (["--trusted", "ROOT", "--leaf", "LEAF", "--purpose", "email"], "--purpose must be client, server or any"),
        (["--trusted", "ROOT", "--leaf", "LEAF", "--at", "yesterday"], "--at must be an RFC 3339 time"),
        (["--trusted", "ROOT", "--leaf", "LEAF", "--require-valid-chain", "maybe"], "--require-valid-chain must be true or false"),
        (["--trusted", "ROOT", "--leaf", "/nonexistent/leaf.pem"], "--leaf /nonexistent/leaf.pem: file not found"),
        (["--trusted", "/nonexistent/ca.pem", "--leaf", "LEAF"], "/nonexistent/ca.pem"),
        (["--trusted", "ROOT", "--leaf", "ROOTKEY"], "no certificate found"),
    ])
    func usageAndFileErrorsExitTwo(_ arguments: [String], _ expected: String) throws {
        let pki = try SeedPKI.get()
        let substituted = arguments.map {
            switch $0 {
            case "ROOT": pki.path("rootCA.crt")
            case "LEAF": pki.path("operate.crt")
            case "ROOTKEY": pki.path("rootCA.key")
            default: $0
            }
        }
        let result = try certauth(substituted)
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains(expected), "\(result.output)")
        #expect(!result.output.contains("PRIVATE KEY"))
    }

    /// Issue 17 item 3: a chain built to exhaust path building (same-subject CAs that cross-sign each other) is refused
    /// with the reason within a second, and `--max-depth` bounds the chain length.
    @Test func pathologicalChainIsRefusedWithinOneSecondAndMaxDepthApplies() async throws {
        let directory = try TemporaryDirectory()
        let (leaf, cluster, anchor) = try PathBudgetTests().loopLeaf(keys: 11)
        let chain = try directory.write("loop.pem", try ([leaf] + cluster).map { try $0.serializeAsPEM().pemString + "\n" }.joined())
        let trusted = try directory.write("anchor.pem", try anchor.pem)
        let clock = ContinuousClock()
        let start = clock.now
        let result = try certauth(["--trusted", trusted, "--leaf", chain, "--json"])
        let elapsed = clock.now - start
        #expect(result.status == 1, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect((object["reason"] as? String)?.hasPrefix("path building gave up after 100 candidates") == true, "\(result.output)")
        #expect(elapsed < .seconds(1), "certauth verify-chain took \(elapsed)")

        let pki = try SeedPKI.get()
        let viaZIC = ["--trusted", pki.path("rootCA.crt"), "--intermediates", pki.path("zic.crt"), "--leaf", pki.path("tasklist.crt")]
        #expect(try certauth(viaZIC + ["--max-depth", "1"]).status == 0)
        let tooDeep = try certauth(viaZIC + ["--max-depth", "0"])
        #expect(tooDeep.status == 1)
        #expect(tooDeep.output.contains("has more than 0 intermediate CA certificates before a trusted one (--max-depth 0)"), "\(tooDeep.output)")
        #expect(try certauth(viaZIC + ["--max-depth=-1"]).status == 2)
    }

    /// `--profile`: the seed's version 1 leaves pass `compatible` (openssl verify's verdict) and fail `strict`; `--host`
    /// matches subjectAltNames only.
    @Test func profilesAndHost() throws {
        let pki = try SeedPKI.get()
        let operate = ["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("operate.crt")]
        #expect(try certauth(operate).status == 0)
        #expect(try certauth(operate + ["--profile", "compatible"]).status == 0)
        let strict = try certauth(operate + ["--profile", "strict", "--json"])
        #expect(strict.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(strict.output.utf8)) as? [String: Any])
        #expect((object["reason"] as? String)?.contains("is a version 1 certificate; the strict profile accepts version 3 only") == true, "\(strict.output)")
        let badProfile = try certauth(operate + ["--profile", "paranoid"])
        #expect(badProfile.status == 2)
        #expect(badProfile.output.contains("--profile must be compatible or strict (got 'paranoid')"))

        let critsan = ["--trusted", pki.path("rootCA.crt"), "--leaf", pki.path("critsan.crt")]
        #expect(try certauth(critsan + ["--host", "critsan.camunda.test"]).status == 0)
        let wrongHost = try certauth(critsan + ["--host", "other.camunda.test"])
        #expect(wrongHost.status == 1)
        #expect(wrongHost.output.contains("is not issued for other.camunda.test: its subjectAltNames are DNS:critsan.camunda.test"), "\(wrongHost.output)")
        let noSAN = try certauth(operate + ["--host", "operate"])
        #expect(noSAN.output.contains("has no subjectAltName, so it names no host"), "\(noSAN.output)")
    }

    /// `--crl`: CRLs from `openssl ca -gencrl`; a revoked client certificate exits 1 with the reason.
    @Test func revocationFromCRLFiles() throws {
        let ca = try OpenSSLCA()
        _ = try ca.issue("good")
        _ = try ca.issue("bad")
        try ca.revoke("bad")
        let crl = try ca.crl()
        let trusted = ca.directory.file("ca.crt")
        #expect(try certauth(["--trusted", trusted, "--leaf", ca.directory.file("good.crt"), "--crl", crl]).status == 0)
        let revoked = try certauth(["--trusted", trusted, "--leaf", ca.directory.file("bad.crt"), "--crl", crl, "--json"])
        #expect(revoked.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(revoked.output.utf8)) as? [String: Any])
        #expect(object["code"] as? String == "revoked")
        #expect((object["reason"] as? String)?.contains("certificate 'CN=bad'") == true, "\(revoked.output)")
        // Without --crl nothing is checked; with another CA's CRL the status is unknown.
        #expect(try certauth(["--trusted", trusted, "--leaf", ca.directory.file("bad.crt")]).status == 0)
        let other = try OpenSSLCA(name: "Other CA")
        let unknown = try certauth(["--trusted", trusted, "--leaf", ca.directory.file("good.crt"), "--crl", try other.crl()])
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("is unknown: no CRL of 'CN=CRL Test CA' is in --crl"), "\(unknown.output)")
        #expect(try certauth(["--trusted", trusted, "--leaf", ca.directory.file("good.crt"), "--crl", try other.crl(), "--revocation-failure", "open"]).status == 0)
        #expect(try certauth(["--trusted", trusted, "--leaf", ca.directory.file("good.crt"), "--crl", ca.directory.file("missing.pem")]).status == 2)
    }
}
