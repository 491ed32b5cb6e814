import AuthProtocol
import Dispatch
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
    /// on (Hummingbird's default, the NIO singleton), which liveness checks. `routes` adds a service's own
    /// operator-only endpoints (the emulator's test hooks), which then answer here and nowhere else.
    public static func build(
        address: String, port: Int, health: HealthRegistry, metrics: PrometheusCollectorRegistry,
        logger: Logger, onRunning: PortHandle? = nil,
        eventLoops: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        routes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        routes(router)
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
        managementLogger[metadataKey: LogKey.listener] = "management"
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
        // Every probe starts here, synchronously: its task is on the loop and its deadline on a Dispatch timer
        // before anything waits, so neither depends on when Swift's thread pool gets to run what follows.
        let probes = eventLoops.makeIterator().map { LoopProbe(loop: $0, timeout: timeout) }
        var answered = 0
        for probe in probes where await probe.answered() { answered += 1 }
        var details = ["event_loops": String(probes.count)]
        if answered < probes.count {
            details["reason"] = "\(probes.count - answered) of \(probes.count) event loops did not answer within \(timeout); the service is stuck, restart it"
        }
        return HealthResponse(
            status: answered == probes.count ? "UP" : "DOWN",
            components: ["eventLoops": .init(status: answered == probes.count ? "UP" : "DOWN", details: details)])
    }
}

/// Whether one event loop runs a task before a deadline: whichever comes first, the loop's answer or the Dispatch
/// timer, decides (a blocked loop's own future would never complete).
private final class LoopProbe: Sendable {
    private let state = Mutex<(result: Bool?, waiter: CheckedContinuation<Bool, Never>?)>((nil, nil))

    init(loop: any EventLoop, timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        loop.execute { self.finish(true) }
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { self.finish(false) }
    }

    private func finish(_ value: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.result == nil else { return nil }
            state.result = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    func answered() async -> Bool {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
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
