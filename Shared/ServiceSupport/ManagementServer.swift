import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Synchronization

/// The plain-HTTP management listener: `GET /actuator/health` (every component), the probes
/// `GET /actuator/health/liveness` and `GET /actuator/health/readiness` (Spring Boot's paths, which Kubernetes
/// charts wire), and `GET /metrics` (Prometheus text).
public enum ManagementServer {
    /// How long every event loop has to answer the liveness probe.
    public static let livenessTimeout: Duration = .seconds(2)

    /// Builds the management application on `address:port`. `eventLoops`: the group the service's listeners run
    /// on (Hummingbird's default, the NIO singleton), which liveness checks.
    public static func build(
        address: String, port: Int, health: HealthRegistry, metrics: PrometheusCollectorRegistry,
        logger: Logger, onRunning: PortHandle? = nil,
        eventLoops: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/actuator/health") { _, _ -> Response in
            answer(health.snapshot())
        }
        // Liveness: the process and its event loops answer. Never the IdP, roles or the database: restarting a
        // pod does not bring those back.
        router.get("/actuator/health/liveness") { _, _ -> Response in
            await answer(liveness(eventLoops: eventLoops, timeout: livenessTimeout))
        }
        // Readiness: able to serve (keys loaded, required components up, certificate not expired).
        router.get("/actuator/health/readiness") { _, _ -> Response in
            answer(health.readiness())
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

extension ManagementServer {
    static func answer(_ health: HealthResponse) -> Response {
        let body = (try? JSONEncoder().encode(health)) ?? Data(#"{"status":"DOWN"}"#.utf8)
        return Response(
            status: health.status == "UP" ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// UP when every event loop of `eventLoops` runs a task within `timeout`; DOWN naming how many did not (a loop
    /// blocked by a long computation or a deadlock). Answers within `timeout` even when a loop never does.
    public static func liveness(eventLoops: any EventLoopGroup, timeout: Duration) async -> HealthResponse {
        let loops = Array(eventLoops.makeIterator())
        let answered = await withTaskGroup(of: Bool.self) { group in
            for loop in loops {
                group.addTask { await answers(loop, within: timeout) }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        var details = ["event_loops": String(loops.count)]
        if answered < loops.count {
            details["reason"] = "\(loops.count - answered) of \(loops.count) event loops did not answer within \(timeout); the service is stuck, restart it"
        }
        return HealthResponse(
            status: answered == loops.count ? "UP" : "DOWN",
            components: ["eventLoops": .init(status: answered == loops.count ? "UP" : "DOWN", details: details)])
    }

    /// Whether `loop` runs a task within `timeout`. Returns after `timeout` at the latest: the wait is not on the
    /// loop's future (which a blocked loop never completes) but on whichever of the two comes first.
    private static func answers(_ loop: any EventLoop, within timeout: Duration) async -> Bool {
        let once = OnceResult()
        return await withCheckedContinuation { continuation in
            once.set(continuation)
            loop.execute { once.finish(true) }
            Task {
                try? await Task.sleep(for: timeout)
                once.finish(false)
            }
        }
    }
}

/// Resumes a continuation once, with whichever result arrives first (the event loop's answer or the deadline).
private final class OnceResult: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Bool, Never>?, done: Bool)>((nil, false))

    func set(_ continuation: CheckedContinuation<Bool, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func finish(_ value: Bool) {
        let continuation = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: value)
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
