import AsyncHTTPClient
import AuthProtocol
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// The built binaries as real processes talking over sockets.
@Suite(.serialized)
struct ProcessTests {
    static var binDir: String {
        ProcessInfo.processInfo.environment["CERTAUTH_BIN_DIR"] ?? FileManager.default.currentDirectoryPath + "/.build/debug"
    }

    /// Starts `binary` with `environment`, capturing stdout+stderr to a file.
    static func start(_ binary: String, environment: [String: String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binDir)/\(binary)")
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        // The fixtures turn this off for services built in the test process; a service in its own process runs the
        // production default (handlers on the event loops), unless a test sets it explicitly.
        if environment["SERVER_HANDLERS_ON_EVENT_LOOP"] == TestPKI.handlersOnEventLoop {
            env["SERVER_HANDLERS_ON_EVENT_LOOP"] = nil
        }
        process.environment = env
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    static func freePort() -> Int {
        PostgresTestServer.freePort()
    }

    /// A service process and the ports it bound.
    struct Started {
        let process: Process
        let port: Int
        let management: Int
    }

    /// Starts `binary` with both listeners on port 0 and waits until it has written the ports it bound
    /// (`SERVER_PORTS_REPORT`) and is healthy: no port is guessed free and then raced for.
    static func startBound(_ binary: String, environment: [String: String], log: String) async throws -> Started {
        let portsFile = log + ".ports"
        try? FileManager.default.removeItem(atPath: portsFile)
        var environment = environment
        environment["SERVER_PORT"] = "0"
        environment["MANAGEMENT_SERVER_PORT"] = "0"
        environment["SERVER_PORTS_REPORT"] = portsFile
        let process = try start(binary, environment: environment, log: log)
        let deadline = Date().addingTimeInterval(90)
        while true {
            if let data = FileManager.default.contents(atPath: portsFile),
               let ports = try? JSONDecoder().decode(BoundPorts.self, from: data) {
                try await waitHealthy(ports.management_port)
                return Started(process: process, port: ports.port, management: ports.management_port)
            }
            guard process.isRunning, Date() < deadline else {
                if process.isRunning { process.terminate() }
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw CommandError("\(binary) did not report its ports in \(portsFile): \(output.suffix(1500))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private struct BoundPorts: Decodable {
        let port: Int
        let management_port: Int
    }

    static func waitHealthy(_ port: Int) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        for _ in 0..<150 {
            if let response = try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/actuator/health"), timeout: .seconds(1)),
               response.status == .ok {
                try await client.shutdown()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await client.shutdown()
        Issue.record("service on management port \(port) never became healthy")
    }

    @Test func wholeFlowAcrossProcessesAndNoSecretInAnyLog() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let emulatorStarted = try await Self.startBound("entra-emulator", environment: pki.emulatorEnvironment(), log: pki.path("emulator.log"))
        let emulator = emulatorStarted.process
        defer { emulator.terminate(); emulator.waitUntilExit() }
        let issuerStarted = try await Self.startBound("token-issuer", environment: pki.tokenIssuerEnvironment(
            emulatorPort: emulatorStarted.port, extra: ["LOG_LEVEL": "debug"]
        ), log: pki.path("issuer.log"))
        let issuer = issuerStarted.process, issuerPort = issuerStarted.port

        let client = try pki.workloadClient()
        var request = HTTPClientRequest(url: "https://localhost:\(issuerPort)/v1/token")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: "{}"))
        let response = try await client.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.version == .http2)
        #expect(response.headers.first(name: "traceparent") != nil)
        let token = try JSONDecoder().decode(TokenResponse.self, from: Data(try await response.body.collect(upTo: 1 << 20).readableBytesView))
        // The same caller and body again: answered on the lean path (issue 16 item 2) with the same token, its own
        // trace, and counted like the first.
        let again = try await client.execute(request, timeout: .seconds(30))
        #expect(again.status == .ok)
        let firstTrace = response.headers.first(name: "traceparent")
        #expect(again.headers.first(name: "traceparent") != nil && again.headers.first(name: "traceparent") != firstTrace)
        #expect(again.headers.first(name: "date") != nil)
        let repeated = try JSONDecoder().decode(TokenResponse.self, from: Data(try await again.body.collect(upTo: 1 << 20).readableBytesView))
        #expect(repeated.accessToken == token.accessToken)
        #expect(repeated.expiresIn <= token.expiresIn && repeated.expiresIn > 0)

        var assertionRequest = HTTPClientRequest(url: "https://localhost:\(issuerPort)/v1/client-assertion")
        assertionRequest.method = .POST
        let assertionResponse = try await client.execute(assertionRequest, timeout: .seconds(30))
        let assertion = try JSONDecoder().decode(ClientAssertionResponse.self, from: Data(try await assertionResponse.body.collect(upTo: 1 << 20).readableBytesView))
        // Every hand-out is counted per caller and scope (or audience).
        let metrics = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(issuerStarted.management)/metrics"), timeout: .seconds(10))
        let exposition = String(buffer: try await metrics.body.collect(upTo: 4 << 20))
        let handouts = exposition.split(separator: "\n").filter { $0.hasPrefix("certauth_token_issuer_handouts_total{") }
        #expect(handouts.contains { $0.contains(#"kind="token""#) && $0.contains(#"caller="app""#) && $0.contains("scope=\"\(TestPKI.apiID)/.default\"") },
                "\(handouts)")
        #expect(handouts.contains { $0.contains(#"kind="client_assertion""#) && $0.contains(#"caller="app""#) }, "\(handouts)")
        #expect(handouts.contains { $0.contains(#"kind="token""#) && $0.hasSuffix(" 2") }, "both token answers counted: \(handouts)")
        let tokenRequests = exposition.split(separator: "\n").filter {
            $0.hasPrefix("http_server_requests_total{") && $0.contains("route=\"/v1/token\"") && $0.contains("status=\"200\"")
        }
        #expect(tokenRequests.count == 1 && tokenRequests.first?.hasSuffix(" 2") == true, "\(tokenRequests)")
        try await client.shutdown()

        issuer.terminate()
        issuer.waitUntilExit()
        #expect(issuer.terminationStatus == 0, "SIGTERM is a graceful shutdown")

        let logs = (try String(contentsOfFile: pki.path("issuer.log"), encoding: .utf8))
            + (try String(contentsOfFile: pki.path("emulator.log"), encoding: .utf8))
        #expect(logs.contains("Certificate loaded successfully with alias: identity"))
        #expect(logs.contains("trace_id"))
        for secret in [token.accessToken, assertion.clientAssertion, TestPKI.password, "PRIVATE KEY"] {
            #expect(!logs.contains(secret), "a secret appeared in the logs")
        }
        // Also no fragment of the token's signature (a truncated token in a log line is still a leak).
        if let signature = token.accessToken.split(separator: ".").last {
            #expect(!logs.contains(String(signature.prefix(24))))
        }
    }

    @Test(arguments: [
        (["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": "/nonexistent/identity.p12"],
         "token-issuer: Certificate keystore not found: /nonexistent/identity.p12"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "api://orchestration"], "Invalid scope: missing .default suffix"),
        (["CAMUNDA_IDENTITY_CLIENT_ID": ""], "CAMUNDA_IDENTITY_CLIENT_ID: is not set"),
        (["SERVER_PORT": "eighty"], "SERVER_PORT: 'eighty' is not a whole number"),
    ])
    func badConfigurationPrintsOneLineAndExits1(overrides: [String: String], expected: String) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let environment = pki.tokenIssuerEnvironment(emulatorPort: 1, extra: overrides)
        let process = try Self.start("token-issuer", environment: environment, log: pki.path("bad.log"))
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        let output = try String(contentsOfFile: pki.path("bad.log"), encoding: .utf8)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "exactly one line: \(output)")
        #expect(output.contains(expected), "\(output)")
        #expect(!output.contains(TestPKI.password))
    }
}
