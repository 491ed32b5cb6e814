import AsyncHTTPClient
import ServiceLifecycle

/// Shuts an `HTTPClient` down when the service group stops (after the services that use it).
public struct HTTPClientService: Service {
    public let client: HTTPClient

    public init(client: HTTPClient) {
        self.client = client
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
