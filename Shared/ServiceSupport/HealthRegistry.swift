import AuthProtocol
import Synchronization

/// Health of a service's components (keystore, IdP reachability, storage…), shown by `GET /actuator/health`.
public final class HealthRegistry: Sendable {
    private let components = Mutex<[String: HealthResponse.Component]>([:])

    public init() {}

    /// Records a component as up, with details that help an operator (never secrets).
    public func up(_ name: String, details: [String: String]? = nil) {
        components.withLock { $0[name] = .init(status: "UP", details: details) }
    }

    /// Records a component as down, with the reason and what to do.
    public func down(_ name: String, details: [String: String]? = nil) {
        components.withLock { $0[name] = .init(status: "DOWN", details: details) }
    }

    /// Records a component that works in a reduced way (a peer unreachable, an old certificate still in use):
    /// shown, but it does not make the service DOWN, so orchestrators don't restart a service that still serves.
    public func degraded(_ name: String, details: [String: String]? = nil) {
        components.withLock { $0[name] = .init(status: "DEGRADED", details: details) }
    }

    /// The overall state: DOWN when any component is DOWN, else UP.
    public func snapshot() -> HealthResponse {
        let all = components.withLock { $0 }
        let status = all.values.contains { $0.status == "DOWN" } ? "DOWN" : "UP"
        return HealthResponse(status: status, components: all)
    }
}
