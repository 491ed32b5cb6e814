import AuthProtocol
import Foundation
import Synchronization
import WireFormat

/// Health of a service's components (keystore, IdP reachability, storage…), shown by `GET /actuator/health`, and the
/// two probe views of it: `/actuator/health/liveness` and `/actuator/health/readiness`.
public final class HealthRegistry: Sendable {
    private let components = Mutex<[String: HealthResponse.Component]>([:])
    /// Component name -> whether DEGRADED still counts as ready.
    private let readinessComponents = Mutex<[String: Bool]>([:])

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

    /// A component the service cannot serve without (authn: the IdP's keys; roles: its database): until it is UP
    /// (or DEGRADED, with `allowDegraded`: still serving, say with the previous certificate), readiness answers 503
    /// and orchestrators send no traffic. A component not yet reported counts as not ready. Only components that
    /// recover by themselves belong here (polled, not updated by requests the pod would no longer get).
    public func requireForReadiness(_ name: String, allowDegraded: Bool = false) {
        readinessComponents.withLock { $0[name] = allowDegraded }
    }

    /// The overall state: DOWN when any component is DOWN, else UP.
    public func snapshot() -> HealthResponse {
        let all = components.withLock { $0 }
        let status = all.values.contains { $0.status == "DOWN" } ? "DOWN" : "UP"
        return HealthResponse(status: status, components: all)
    }

    /// Able to serve: no component DOWN, every component required for readiness UP (or DEGRADED where allowed),
    /// and no certificate a component reports (`not_after` in its details) expired. Lists the components that decide
    /// it (the required ones and any DOWN), with their details.
    public func readiness(now: Date = Date()) -> HealthResponse {
        let all = components.withLock { $0 }
        let required = readinessComponents.withLock { $0 }
        var shown: [String: HealthResponse.Component] = [:]
        var ready = true
        for (name, allowDegraded) in required {
            var component = all[name] ?? .init(status: "DOWN", details: ["reason": "not reported yet"])
            if let notAfter = component.details?["not_after"], let date = RFC3339.date(notAfter), date < now {
                component = .init(status: "DOWN", details: (component.details ?? [:]).merging(
                    ["reason": "certificate expired at \(notAfter); replace it"]) { $1 })
            }
            if !(component.status == "UP" || (allowDegraded && component.status == "DEGRADED")) { ready = false }
            shown[name] = component
        }
        for (name, component) in all where component.status == "DOWN" {
            ready = false
            shown[name] = component
        }
        return HealthResponse(status: ready ? "UP" : "DOWN", components: shown)
    }
}
