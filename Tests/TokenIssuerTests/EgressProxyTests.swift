import AsyncHTTPClient
import EntraEmulator
import Foundation
import Logging
import ServiceClient
import ServiceSupport
import Settings
import Testing
import TestSupport
import TokenIssuer

/// Debian's tinyproxy, started by the test on a port it is then checked to hold.
final class Tinyproxy: Sendable {
    let process: Process
    let port: Int
    let log: String

    init(directory: String) async throws {
        let binary = "/usr/bin/tinyproxy"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw HelperFailure(description: "tinyproxy is not installed (apt-get install tinyproxy; .ci/run and scripts/system-packages.sh test install it)")
        }
        let log = (directory as NSString).appendingPathComponent("tinyproxy.log")
        let started = try await ListeningProcess.start("tinyproxy (log: \(log))") { port, attempt in
            let configuration = """
                Port \(port)
                Listen 127.0.0.1
                Timeout 60
                LogFile "\(log)"
                LogLevel Connect
                MaxClients 100
                Allow 127.0.0.1
                """
            let path = (directory as NSString).appendingPathComponent("tinyproxy-\(attempt).conf")
            try Data(configuration.utf8).write(to: URL(fileURLWithPath: path))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["-d", "-c", path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            return process
        }
        self.process = started.process
        self.port = started.port
        self.log = log
    }

    var url: String { "http://127.0.0.1:\(port)" }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// SIGKILL: tinyproxy in the foreground (-d) does not always exit on SIGTERM.
    func stop() {
        ListeningProcess.stop(process)
    }
}

@Suite(.serialized)
struct EgressProxyTests {
    /// Discovery and the token request go through tinyproxy in a CONNECT tunnel; with the proxy gone the exchange fails
    /// naming the proxy (nothing falls back to a direct connection); NO_PROXY and `..._OIDC_PROXY=none` go direct.
    @Test(.timeLimit(.minutes(3))) func idpCallsGoThroughTinyproxy() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let proxy = try await Tinyproxy(directory: pki.directory)
        defer { proxy.stop() }
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let proxied = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: ["HTTPS_PROXY": proxy.url])
            // The IdP-only setting wins over a (here unusable) HTTPS_PROXY.
            let idpOnly = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: [
                "HTTPS_PROXY": "http://127.0.0.1:9", TokenIssuerSetting.proxy: proxy.url,
            ])
            // NO_PROXY names the IdP's host: direct, although the proxy will be down.
            let bypassing = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: [
                "HTTPS_PROXY": proxy.url, "NO_PROXY": "example.com,localhost",
            ])
            try await withServices(proxied.services + idpOnly.services + bypassing.services, logger: logs.logger("group")) {
                let client = try pki.workloadClient()
                try await TestPKI.using(client) {
                    let proxiedPort = await proxied.port.port()
                    let first = try await post(client, "https://localhost:\(proxiedPort)/v1/token")
                    #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")
                    #expect(proxy.logText.contains("CONNECT localhost:\(emulatorPort)"), "\(proxy.logText.suffix(2000))")
                    let tunnels = proxy.logText.components(separatedBy: "CONNECT localhost:\(emulatorPort)").count - 1

                    let idpOnlyResult = try await post(client, "https://localhost:\(await idpOnly.port.port())/v1/token")
                    #expect(idpOnlyResult.status == 200, "\(String(decoding: idpOnlyResult.body, as: UTF8.self))")
                    #expect(tunnels >= 2, "both token-issuers opened their tunnel: \(proxy.logText.suffix(2000))")

                    proxy.stop()
                    let down = try await post(client, "https://localhost:\(proxiedPort)/v1/token", body: #"{"scope": "api://\#(TestPKI.apiID)/.default"}"#)
                    let downText = String(decoding: down.body, as: UTF8.self)
                    #expect(down.status == 503, "\(downText)")
                    #expect(downText.contains("through proxy \(proxy.url) (HTTPS_PROXY"), "\(downText)")
                    let idpOnlyDown = try await post(client, "https://localhost:\(await idpOnly.port.port())/v1/token", body: #"{"scope": "api://\#(TestPKI.apiID)/.default"}"#)
                    #expect(idpOnlyDown.status == 503)
                    #expect(String(decoding: idpOnlyDown.body, as: UTF8.self).contains("through proxy \(proxy.url) (\(TokenIssuerSetting.proxy)"))

                    let direct = try await post(client, "https://localhost:\(await bypassing.port.port())/v1/token")
                    #expect(direct.status == 200, "NO_PROXY=localhost reaches the IdP directly: \(String(decoding: direct.body, as: UTF8.self))")
                }
            }
        }
    }

    /// The emulator fetches a federated credential's external issuer discovery document and JWKS through the proxy too.
    @Test(.timeLimit(.minutes(3))) func emulatorFetchesTheExternalIssuerThroughTinyproxy() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let proxy = try await Tinyproxy(directory: pki.directory)
        defer { proxy.stop() }
        let external = try ExternalIssuer(pki: pki, logger: logs.logger("external-issuer"))
        try await withServices(external.services, logger: logs.logger("group")) {
            let issuerURL = await external.url()
            try FederatedCredentialTests.registerFederation(pki: pki, issuer: issuerURL)
            let configuration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment(extra: [
                "ENTRA_EMULATOR_TRUSTSTORE_PATH": pki.path("truststore.pem"), "HTTPS_PROXY": proxy.url,
            ])))
            let emulator = try await EmulatorApplication.build(configuration: configuration, logger: logs.logger("entra-emulator"))
            try await withServices(emulator.services, logger: logs.logger("group")) {
                let emulatorPort = await emulator.port.port()
                let answer = try await PEMCredentialLiveTests.exchange(try external.mint(issuer: issuerURL), pki: pki, emulatorPort: emulatorPort)
                #expect(answer.status == 200, "\(answer.body)")
                #expect(proxy.logText.contains("CONNECT localhost:\(await external.port.port())"), "\(proxy.logText.suffix(1500))")
            }
        }
    }
}
