import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing
import TestSupport

/// authn as its own process checking one trust anchor's client certificates against the CRL their distribution point
/// names (`…_MTLS_REVOCATION_BY_ANCHOR=<ca file>=crl/closed`, the global mode off), the CRL made by `openssl ca -gencrl`
/// and served by Python's http.server on a port checked held by it (issue 17 item 4): a revoked certificate is refused,
/// one revoked after its answer was kept is refused within one refresh, the freshness shows in health `crl` and
/// `/metrics`, and with the distribution point down the held CRL keeps serving while health says so.
@Suite(.serialized)
struct CRLFetchProcessTests {
    static func client(_ dp: CRLDistribution, _ name: String, trusting pki: TestPKI) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(pki.path("truststore.pem"))
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(dp.file("\(name).crt")).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: dp.file("\(name).key"), format: .pem))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    static func get(_ client: HTTPClient, _ url: String) async throws -> (status: UInt, challenge: String, body: String) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(20))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return (response.status.code, response.headers.first(name: "www-authenticate") ?? "", body)
    }

    /// Health component `crl`, polled until `done` holds for it (reported every second).
    static func crlHealth(
        _ client: HTTPClient, _ management: Int, until done: (String, [String: String]) -> Bool
    ) async throws -> (String, [String: String])? {
        var last: (String, [String: String])?
        for _ in 0..<80 {
            let answer = try await get(client, "http://127.0.0.1:\(management)/actuator/health")
            let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            let crl = (object?["components"] as? [String: Any])?["crl"] as? [String: Any]
            last = (crl?["status"] as? String ?? "", crl?["details"] as? [String: String] ?? [:])
            if let last, done(last.0, last.1) { return last }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("health crl never got there; last: \(String(describing: last))")
        return nil
    }

    @Test func revokedRefusedWithinOneRefreshFreshnessShownAndAnOutageHeld() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let dp = try await CRLDistribution()
        defer { dp.remove() }
        for name in ["good", "bad", "later"] { try dp.issue(name) }
        try dp.issue("lost", path: "missing.crl")
        try dp.revoke("bad")
        try dp.publish()
        let authn = try await ProcessTests.startBound("authn", environment: [
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "\(pki.path("truststore.pem")),\(dp.file("ca.crt"))",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR": "\(dp.file("ca.crt"))=crl/closed",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_FETCH_INTERVAL": "1",
        ], log: pki.path("authn.log"))
        defer { if authn.process.isRunning { authn.process.terminate(); authn.process.waitUntilExit() } }
        let me = "https://localhost:\(authn.port)/v2/authentication/me"
        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        let good = try Self.client(dp, "good", trusting: pki)
        let bad = try Self.client(dp, "bad", trusting: pki)
        let later = try Self.client(dp, "later", trusting: pki)
        let lost = try Self.client(dp, "lost", trusting: pki)
        let dev = try pki.client()
        do {
            // The dev CA's clients are not checked (global mode off); the CRL DP CA's are.
            #expect(try await Self.get(dev, me).status == 200)
            let accepted = try await Self.get(good, me)
            #expect(accepted.status == 200, "\(accepted)")
            let refused = try await Self.get(bad, me)
            #expect(refused.status == 401 && refused.challenge.contains("was revoked"), "\(refused)")
            // Kept (verdict cache, lean path) ...
            #expect(try await Self.get(good, me).status == 200)
            // ... until the CRL changes: refused within one refresh (1 s, plus the reporter's tick).
            try dp.revoke("good")
            try dp.publish()
            let revokedAt = Date()
            var status: UInt = 200
            while status == 200, Date().timeIntervalSince(revokedAt) < 20 {
                try await Task.sleep(for: .milliseconds(200))
                status = try await Self.get(good, me).status
            }
            #expect(status == 401)
            #expect(Date().timeIntervalSince(revokedAt) < 5, "refused only after \(Date().timeIntervalSince(revokedAt)) s")

            let healthy = try await Self.crlHealth(plain, authn.management) { status, details in
                status == "UP" && details["url0"] == dp.url && details["url0.last_success"] != nil
            }
            #expect(healthy?.1["url0.crls"]?.contains("next_update=") == true, "\(String(describing: healthy))")
            let page = try await MetricsProcessTests.scrape(plain, authn.management)
            let next = page.values("certauth_crl_next_update_timestamp_seconds", ["source": dp.url])
            #expect(next.count == 1 && (next.first ?? 0) > Date().timeIntervalSince1970 + 6 * 86_400, "\(next)")
            #expect(page.values("certauth_crl_last_success_timestamp_seconds", ["source": dp.url]).count == 1)
            #expect(page.values("certauth_revocation_fetch_failures_total", ["kind": "crl_fetch", "source": dp.url]) == [0])
            for family in ["certauth_crl_next_update_timestamp_seconds", "certauth_crl_last_success_timestamp_seconds", "certauth_revocation_fetch_failures_total"] {
                #expect(page.help[family]?.isEmpty == false, "no HELP for \(family)")
            }

            // A distribution point that has no CRL: status unknown, refused (closed), naming why.
            let missing = try await Self.get(lost, me)
            #expect(missing.status == 401 && missing.challenge.contains("answered HTTP 404"), "\(missing)")

            // The distribution point down: the held CRL serves until its nextUpdate; health and metrics say so.
            dp.stop()
            let degraded = try await Self.crlHealth(plain, authn.management) { status, details in
                status == "DEGRADED" && details["url0.last_error"]?.contains(dp.url) == true
            }
            #expect(degraded != nil)
            #expect(try await Self.get(later, me).status == 200)
            #expect(try await Self.get(bad, me).status == 401)
            let after = try await MetricsProcessTests.scrape(plain, authn.management)
            #expect((after.values("certauth_revocation_fetch_failures_total", ["kind": "crl_fetch", "source": dp.url]).first ?? 0) >= 1)
        } catch {
            Issue.record(error)
        }
        for client in [plain, good, bad, later, lost, dev] { try await client.shutdown() }
    }

    @Test func checkConfigShowsAndChecksThePerAnchorPolicy() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        func checkConfig(_ extra: [String: String]) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "\(ProcessTests.binDir)/certauth")
            process.arguments = ["check-config", "authn"]
            process.environment = [
                "PATH": "/usr/bin:/bin",
                "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
                "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": pki.path("truststore.pem"),
            ].merging(extra) { $1 }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let ok = try checkConfig([
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "ocsp",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR": "\(pki.path("truststore.pem"))=crl/open",
        ])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("revocation: ocsp, failure closed"), "\(ok.output)")
        #expect(ok.output.contains("revocation for anchor \(pki.path("truststore.pem")) (spki_sha256 "), "\(ok.output)")
        #expect(ok.output.contains("crl, failure open"), "\(ok.output)")
        #expect(ok.output.contains("CRL distribution points: fetched"), "\(ok.output)")
        let wrong = try checkConfig(["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR": "/nowhere/ca.pem=crl"])
        #expect(wrong.status == 1, "\(wrong.output)")
        #expect(wrong.output.contains("CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR") && wrong.output.contains("neither one of the files"), "\(wrong.output)")
    }
}
