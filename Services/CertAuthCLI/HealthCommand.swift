import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `certauth health URL`: the container health check (the runtime image has no curl). Exit 0 when the management
/// port answers 200 with `"status":"UP"`, 1 otherwise, with the reason on stderr.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Checks a service's management health endpoint (exit 0 when UP): for container health checks.")

    @Argument(help: "The health URL, e.g. http://127.0.0.1:9081/actuator/health.")
    var url: String = "http://127.0.0.1:9080/actuator/health"

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    @Flag(help: "Print the health document on stdout.")
    var verbose = false

    func run() async throws {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else {
            throw ValidationError("'\(url)' is not an http(s) URL; give the management port's health URL, e.g. http://127.0.0.1:9081/actuator/health")
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let outcome: Result<(Int, String), any Error>
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(Int64(max(1, timeout))))
            let body = try await response.body.collect(upTo: 1 << 20)
            outcome = .success((Int(response.status.code), String(buffer: body)))
        } catch {
            outcome = .failure(error)
        }
        try? await client.shutdown()
        switch outcome {
        case .success(let (status, body)):
            if verbose { print(body) }
            guard status == 200, body.contains("\"UP\"") else {
                FileHandle.standardError.write(Data("certauth health: \(url) answered \(status): \(body.prefix(500))\n".utf8))
                throw ExitCode(1)
            }
        case .failure(let error):
            FileHandle.standardError.write(Data("certauth health: \(url) did not answer (\(error)); is the service running and MANAGEMENT_SERVER_PORT right?\n".utf8))
            throw ExitCode(1)
        }
    }
}
