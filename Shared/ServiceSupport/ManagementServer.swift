import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

/// The plain-HTTP management listener: `GET /actuator/health` and `GET /metrics` (Prometheus text).
public enum ManagementServer {
    /// Builds the management application on `address:port`; `routes` adds a service's own operator-only endpoints
    /// (the emulator's test hooks), which then answer here and nowhere else.
    public static func build(
        address: String, port: Int, health: HealthRegistry, metrics: PrometheusCollectorRegistry,
        logger: Logger, onRunning: PortHandle? = nil, routes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        routes(router)
        router.get("/actuator/health") { _, _ -> Response in
            let snapshot = health.snapshot()
            let body = (try? JSONEncoder().encode(snapshot)) ?? Data(#"{"status":"DOWN"}"#.utf8)
            return Response(
                status: snapshot.status == "UP" ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
        var managementLogger = logger
        managementLogger[metadataKey: "listener"] = "management"
        return Application(
            router: router,
            configuration: .init(address: .hostname(address, port: port), serverName: nil),
            onServerRunning: { channel in onRunning?.fulfil(channel.localAddress?.port ?? port) },
            logger: managementLogger)
    }
}

/// Resolves to the port a listener bound (useful with port 0 in tests).
public final class PortHandle: Sendable {
    private let state = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    public init() {}

    /// Called once the listener is bound.
    public func fulfil(_ port: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, Never>] in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    /// Waits until the listener is bound and returns its port.
    public func port() async -> Int {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Int? in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
