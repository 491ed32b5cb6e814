import AsyncHTTPClient
import AuthProtocol
import EntraEmulator
import Foundation
import Keystore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import ServiceSupport
import Settings
import Testing
import TestSupport
import TokenIssuer
import WireFormat

/// The emulator and token-issuer built in process, listening on port 0, over real TLS and HTTP/2.
enum Fixtures {
    static func emulator(pki: TestPKI, logs: CapturedLogs, port: Int = 0, tokenLifetime: Int = 3599) async throws -> EmulatorInstance {
        let configuration = try EmulatorConfiguration(environment: EnvironmentReader(
            pki.emulatorEnvironment(port: port, extra: ["ENTRA_EMULATOR_TOKEN_LIFETIME": String(tokenLifetime)])))
        return try await EmulatorApplication.build(configuration: configuration, logger: logs.logger("entra-emulator"))
    }

    static func issuer(pki: TestPKI, logs: CapturedLogs, emulatorPort: Int, extra: [String: String] = [:]) async throws -> TokenIssuerInstance {
        let configuration = try TokenIssuerConfiguration(environment: EnvironmentReader(
            pki.tokenIssuerEnvironment(emulatorPort: emulatorPort, extra: extra)))
        return try await TokenIssuerApplication.build(configuration: configuration, logger: logs.logger("token-issuer"))
    }
}

func post(_ client: HTTPClient, _ url: String, body: String = "{}") async throws -> (status: Int, body: Data, headers: [String: String]) {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/json")
    request.body = .bytes(ByteBuffer(string: body))
    let response = try await client.execute(request, timeout: .seconds(120))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    var headers: [String: String] = [:]
    for header in response.headers { headers[header.name.lowercased()] = header.value }
    return (Int(response.status.code), Data(bytes.readableBytesView), headers)
}

func get(_ client: HTTPClient, _ url: String) async throws -> (status: Int, body: Data) {
    let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(120))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), Data(bytes.readableBytesView))
}

@Suite(.serialized)
struct TokenIssuerLiveTests {
    @Test func issuesTokenOverHTTP2WithMutualTLSAndOneExchangeFor1000ConcurrentCallers() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let port = await issuer.port.port()
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                    let url = "https://localhost:\(port)/v1/token"
                    let results = try await withThrowingTaskGroup(of: Int.self) { group in
                        for _ in 0..<1000 {
                            group.addTask { try await post(client, url).status }
                        }
                        var statuses: [Int] = []
                        for try await status in group { statuses.append(status) }
                        return statuses
                    }
                    #expect(results.count == 1000)
                    #expect(results.allSatisfy { $0 == 200 })
                    let stats = await emulator.control.snapshot()
                    #expect(stats.tokenRequests == 1)
                    #expect(stats.tokensIssued == 1)

                    let answer = try await post(client, url)
                    let token = try JSONDecoder().decode(TokenResponse.self, from: answer.body)
                    #expect(token.tokenType == "Bearer")
                    #expect(token.scope == "\(TestPKI.apiID)/.default")
                    #expect(token.expiresIn > 3500)
                    let payload = try #require(token.accessToken.split(separator: ".").dropFirst().first.flatMap { Base64URL.decode(String($0)) })
                    let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
                    #expect(claims["roles"] as? [String] == ["Admin", "Reader"])
                    #expect(claims["aud"] as? String == TestPKI.apiID)
                    #expect(claims["azp"] as? String == TestPKI.clientID)

                    // credentials: metadata, never key material
                    let credentials = try await get(client, "https://localhost:\(port)/v1/credentials")
                    #expect(credentials.status == 200)
                    let listed = try JSONDecoder().decode(CredentialsResponse.self, from: credentials.body)
                    #expect(listed.credentials.first?.alias == "identity")
                    #expect(listed.credentials.first?.active == true)
                    #expect(!String(decoding: credentials.body, as: UTF8.self).contains("PRIVATE"))

                    // client assertion: fresh, for the token endpoint
                    let assertion = try await post(client, "https://localhost:\(port)/v1/client-assertion")
                    #expect(assertion.status == 200)
                    let decoded = try JSONDecoder().decode(ClientAssertionResponse.self, from: assertion.body)
                    #expect(decoded.clientAssertionType == ClientAssertionResponse.jwtBearerType)

                    // a scope without /.default is refused before it reaches Entra
                    let bad = try await post(client, url, body: #"{"scope": "\#(TestPKI.apiID)"}"#)
                    #expect(bad.status == 400)
                    #expect(String(decoding: bad.body, as: UTF8.self).contains("Invalid scope: missing .default suffix"))

                    // a malformed body gets a clear 400
                    let malformed = try await post(client, url, body: "{not json")
                    #expect(malformed.status == 400)
                    #expect(String(decoding: malformed.body, as: UTF8.self).contains("invalid_request"))

                    // secrets never in logs
                    let everything = logs.all.joined(separator: "\n")
                    #expect(!everything.contains(token.accessToken))
                    #expect(!everything.contains(decoded.clientAssertion))
                    #expect(!everything.contains(TestPKI.password))
                    #expect(!everything.contains("PRIVATE KEY"))
                    #expect(everything.contains("Loading certificate from keystore: \(pki.path("identity.p12"))"))
                    #expect(everything.contains("Certificate loaded successfully with alias: identity"))

                }
            }
        }
    }

    @Test func refusesCallersWithoutAClientCertificate() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: 1, extra: ["SERVER_SSL_CLIENT_AUTH": "want"])
        try await withServices(issuer.services, logger: logs.logger("group")) {
            let port = await issuer.port.port()
            let client = try pki.client(withCertificate: false)
            let answer = try await post(client, "https://localhost:\(port)/v1/token")
            #expect(answer.status == 401)
            #expect(answer.headers["www-authenticate"]?.hasPrefix("Bearer error=") == true)
            try await client.shutdown()
        }
    }

    @Test func servesCachedTokenWhileIdPIsDownThen503WithHintThenResumes() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        // Short-lived tokens: 10 s, so the cache expires within the test (4 s was too short for a loaded 2-core machine:
        // the token expired before the request that should find it cached).
        let first = try await Fixtures.emulator(pki: pki, logs: logs, tokenLifetime: 10)
        let emulatorPort: Int = try await withServices(first.services, logger: logs.logger("group")) {
            await first.port.port()
        }
        // The emulator above has stopped; start the issuer against its (now closed) port after a first token.
        let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
        try await withServices(issuer.services, logger: logs.logger("group")) {
            let port = await issuer.port.port()
            let client = try pki.workloadClient()
            // A failed expectation must not skip the shutdown: AsyncHTTPClient traps on a client deinitialised running.
            try await TestPKI.using(client) {
            let url = "https://localhost:\(port)/v1/token"
            let second = try await Fixtures.emulator(pki: pki, logs: logs, port: emulatorPort, tokenLifetime: 10)
            let token: String = try await withServices(second.services, logger: logs.logger("group")) {
                _ = await second.port.port()
                let answer = try await post(client, url)
                #expect(answer.status == 200)
                return try JSONDecoder().decode(TokenResponse.self, from: answer.body).accessToken
            }
            // IdP down: the cached token is still served.
            let cached = try await post(client, url)
            #expect(cached.status == 200)
            #expect(try JSONDecoder().decode(TokenResponse.self, from: cached.body).accessToken == token)
            // After expiry: 503 naming the IdP as unreachable.
            try await Task.sleep(for: .seconds(10.5))
            let down = try await post(client, url)
            #expect(down.status == 503)
            let error = try JSONDecoder().decode(OAuthErrorResponse.self, from: down.body)
            #expect(error.error == "temporarily_unavailable")
            #expect(error.hint?.contains("unreachable") == true)
            #expect(error.hint?.contains("localhost") == true)
            // IdP back: service resumes by itself.
            let third = try await Fixtures.emulator(pki: pki, logs: logs, port: emulatorPort)
            try await withServices(third.services, logger: logs.logger("group")) {
                _ = await third.port.port()
                let back = try await post(client, url)
                #expect(back.status == 200)
                #expect(try JSONDecoder().decode(TokenResponse.self, from: back.body).accessToken != token)
            }
            }
        }
        #expect(!logs.all.joined().contains(TestPKI.password))
    }

    @Test func idpErrorsAreClassifiedWithHintAndRetried() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            // An unregistered client id: AADSTS700016 with a hint naming CAMUNDA_IDENTITY_CLIENT_ID, not retried.
            let issuer = try await Fixtures.issuer(
                pki: pki, logs: logs, emulatorPort: emulatorPort, extra: ["CAMUNDA_IDENTITY_CLIENT_ID": "00000000-0000-0000-0000-000000000001"])
            try await withServices(issuer.services, logger: logs.logger("group")) {
                let port = await issuer.port.port()
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                let url = "https://localhost:\(port)/v1/token"
                let answer = try await post(client, url)
                #expect(answer.status == 502)
                let error = try JSONDecoder().decode(OAuthErrorResponse.self, from: answer.body)
                #expect(error.errorCodes == [700016])
                #expect(error.hint?.contains("CAMUNDA_IDENTITY_CLIENT_ID") == true)
                #expect(error.traceID != nil)
                #expect(error.correlationID != nil)
                #expect(await emulator.control.snapshot().tokenRequests == 1)

                }
            }
            // A 503 with Retry-After: 1 is retried and then succeeds (with the right client id).
            await emulator.control.reset()
            let issuer2 = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort)
            try await withServices(issuer2.services, logger: logs.logger("group")) {
                let port = await issuer2.port.port()
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                let url = "https://localhost:\(port)/v1/token"
                await emulator.control.inject(.init(status: 503, count: 1, retryAfter: 1, error: nil, errorCodes: nil, delay: nil))
                let retried = try await post(client, url)
                #expect(retried.status == 200)
                #expect(await emulator.control.snapshot().tokenRequests == 2)

                // A certificate-class error (700027) is retried once with a fresh assertion.
                await issuer2.cache.invalidateAll()
                await emulator.control.reset()
                await emulator.control.inject(.init(status: 401, count: 1, retryAfter: nil, error: "invalid_client", errorCodes: [700027], delay: nil))
                let recovered = try await post(client, url)
                #expect(recovered.status == 200)
                #expect(await emulator.control.snapshot().tokenRequests == 2)

                // Twice 700027: the caller gets the classified error with the certificate hint.
                await issuer2.cache.invalidateAll()
                await emulator.control.inject(.init(status: 401, count: 2, retryAfter: nil, error: "invalid_client", errorCodes: [700027], delay: nil))
                let refused = try await post(client, url)
                #expect(refused.status == 502)
                let error = try JSONDecoder().decode(OAuthErrorResponse.self, from: refused.body)
                #expect(error.errorCodes == [700027])
                #expect(error.hint?.contains("Certificates & secrets") == true)
                }
            }
        }
    }
}
