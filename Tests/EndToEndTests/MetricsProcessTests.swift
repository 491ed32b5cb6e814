import AsyncHTTPClient
import DevPKI
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TestSupport
import X509

/// Issue 18 item 5: what operators alert on, read from `/metrics` of every service running as its own process.
@Suite(.serialized)
struct MetricsProcessTests {
    /// One `/metrics` page: its samples (series text -> value) and the HELP text of each family.
    struct Exposition {
        var text: String
        var samples: [String: Double] = [:]
        var help: [String: String] = [:]
        var types: [String: String] = [:]

        init(_ text: String) {
            self.text = text
            for line in text.split(separator: "\n") {
                if line.hasPrefix("# HELP ") {
                    let rest = line.dropFirst(7)
                    let name = rest.prefix { $0 != " " }
                    help[String(name)] = String(rest.dropFirst(name.count).drop { $0 == " " })
                } else if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) {
                    samples[String(line[..<space])] = value
                }
            }
        }

        /// Samples of the family `name` whose labels contain every `label="value"` of `labels`.
        func values(_ name: String, _ labels: [String: String] = [:]) -> [Double] {
            samples.filter { series, _ in
                series.hasPrefix(name + "{") && labels.allSatisfy { series.contains("\($0.key)=\"\($0.value)\"") }
            }.map(\.value)
        }
    }

    static func scrape(_ client: HTTPClient, _ management: Int) async throws -> Exposition {
        let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(management)/metrics"), timeout: .seconds(10))
        #expect(response.status == .ok)
        return Exposition(String(buffer: try await response.body.collect(upTo: 8 << 20)))
    }

    static func post(_ client: HTTPClient, _ url: String, _ body: String, headers: [(String, String)] = []) async throws -> HTTPResponseStatus {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status
    }

    @Test func everyServiceShowsACertificateTenDaysFromExpiryAndTheAlertingMetricsHaveHelp() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        // A CA that every service trusts, 10 days from its end: the PrometheusRule's 14-day alert must see it.
        let expiring = try DevPKI.makeCA(commonName: "Expiring Partner CA", validity: 10 * 86_400)
        let expiresAt = expiring.certificate.notValidAfter.timeIntervalSince1970
        let bundle = pki.path("trust-bundle.pem")
        try Data((try String(contentsOfFile: pki.path("truststore.pem"), encoding: .utf8) + "\n" + (try expiring.pem)).utf8)
            .write(to: URL(fileURLWithPath: bundle))
        let trust = ["SERVER_SSL_TRUST_STORE": bundle]

        var processes: [Process] = []
        defer { for process in processes where process.isRunning { process.terminate(); process.waitUntilExit() } }
        let emulator = try await ProcessTests.startBound("entra-emulator", environment: pki.emulatorEnvironment(extra: trust), log: pki.path("emulator.log"))
        processes.append(emulator.process)
        let issuer = try await ProcessTests.startBound("token-issuer", environment: pki.tokenIssuerEnvironment(
            emulatorPort: emulator.port, extra: trust), log: pki.path("issuer.log"))
        processes.append(issuer.process)
        let roles = try await ProcessTests.startBound("roles", environment: pki.rolesEnvironment(
            database: ["CAMUNDA_DATABASE_URL": pki.path("roles.sqlite")], extra: trust), log: pki.path("roles.log"))
        processes.append(roles.process)
        let authn = try await ProcessTests.startBound("authn", environment: [
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": bundle,
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://localhost:\(emulator.port)/\(TestPKI.tenantID)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": bundle,
        ], log: pki.path("authn.log"))
        processes.append(authn.process)

        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        let workload = try pki.workloadClient()
        let anonymous = try pki.client(withCertificate: false)
        do {
            try await check(pki: pki, expiresAt: expiresAt, emulator: emulator, issuer: issuer, roles: roles, authn: authn,
                            plain: plain, workload: workload, anonymous: anonymous)
        } catch {
            Issue.record(error)
        }
        for client in [plain, workload, anonymous] { try await client.shutdown() }
    }

    func check(
        pki: TestPKI, expiresAt: Double, emulator: ProcessTests.Started, issuer: ProcessTests.Started, roles: ProcessTests.Started,
        authn: ProcessTests.Started, plain: HTTPClient, workload: HTTPClient, anonymous: HTTPClient
    ) async throws {

        // A token exchange that succeeds and one the IdP refuses (AADSTS500011: no such resource).
        #expect(try await Self.post(workload, "https://localhost:\(issuer.port)/v1/token", "{}") == .ok)
        let unknownScope = "00000000-0000-0000-0000-0000000000aa/.default"
        #expect(try await Self.post(workload, "https://localhost:\(issuer.port)/v1/token", #"{"scope": "\#(unknownScope)"}"#) != .ok)

        let services = [("entra-emulator", emulator.management), ("token-issuer", issuer.management),
                        ("roles", roles.management), ("authn", authn.management)]
        for (name, management) in services {
            let page = try await Self.scrape(plain, management)
            let trusted = page.values("certauth_certificate_expiration_timestamp_seconds", ["role": "trusted_ca"])
            #expect(trusted.contains { abs($0 - expiresAt) < 1 }, "\(name): the CA expiring in 10 days is not in /metrics: \(trusted)")
            #expect(!page.values("certauth_certificate_expiration_timestamp_seconds", ["role": "server"]).isEmpty, "\(name): no server certificate")
            #expect(page.types["http_server_requests_total"] == "counter" || name != "token-issuer", "\(name): \(page.types)")
            // HELP text on every metric, and every name from the catalog.
            #expect(!page.types.isEmpty)
            for family in page.types.keys {
                let help = page.help[family] ?? ""
                #expect(!help.isEmpty && !help.contains("not described in MetricsCatalog"), "\(name): \(family) has HELP '\(help)'")
            }
        }
        // authn also counts the client-certificate anchors, by their own role.
        let authnPage = try await Self.scrape(plain, authn.management)
        #expect(authnPage.values("certauth_certificate_expiration_timestamp_seconds", ["role": "client_ca"]).contains { abs($0 - expiresAt) < 1 })
        #expect((authnPage.samples["certauth_jwks_last_success_timestamp_seconds"] ?? 0) > Date().timeIntervalSince1970 - 300,
                "authn fetched the IdP's keys at start")
        #expect(authnPage.samples["certauth_jwks_refresh_failures_total"] == 0, "no JWKS failure yet")

        let issuerPage = try await Self.scrape(plain, issuer.management)
        #expect(issuerPage.types["certauth_token_exchange_duration_seconds"] == "histogram")
        #expect(issuerPage.samples[#"certauth_token_exchange_duration_seconds_count{outcome="success",aadsts="none"}"#] == 1, "\(issuerPage.values("certauth_token_exchange_duration_seconds_count"))")
        #expect(issuerPage.samples[#"certauth_token_exchange_duration_seconds_count{outcome="idp_error",aadsts="500011"}"#] == 1, "\(issuerPage.values("certauth_token_exchange_duration_seconds_count"))")
        #expect(issuerPage.samples[#"http_server_requests_total{route="/v1/token",method="POST",status="200"}"#] == 1,
                "\(issuerPage.text.split(separator: "\n").filter { $0.hasPrefix("http_server_requests_total") })")
        #expect(issuerPage.values("http_server_request_duration_seconds_count", ["route": "/v1/token", "status": "200"]) == [1])
        #expect(issuerPage.samples[#"certauth_token_issuer_handouts_total{kind="token",caller="app",scope="\#(TestPKI.apiID)/.default"}"#] == 1)

        // The IdP goes away: a token with an unknown key makes authn refresh its JWKS, which fails and is counted.
        emulator.process.terminate()
        emulator.process.waitUntilExit()
        let unknownKid = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im5ldy1rZXkifQ.eyJzdWIiOiJ4In0.c2ln"
        var request = HTTPClientRequest(url: "https://localhost:\(authn.port)/v2/authentication/me")
        request.headers.add(name: "authorization", value: "Bearer \(unknownKid)")
        _ = try await anonymous.execute(request, timeout: .seconds(30))
        var failures = 0.0
        for _ in 0..<40 where failures == 0 {
            try await Task.sleep(for: .milliseconds(250))
            failures = try await Self.scrape(plain, authn.management).samples["certauth_jwks_refresh_failures_total"] ?? 0
        }
        #expect(failures >= 1, "the failed JWKS refresh is counted within one report interval")
    }
}
