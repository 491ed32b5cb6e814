import AuthProtocol
import Foundation
import NIOCore
import NIOPosix
import ServiceSupport
import Synchronization
import Testing
import WireFormat

/// The probe views of a service's health: readiness from the registry's components, liveness from the event loops.
@Suite struct ProbeTests {
    @Test func readinessWaitsForEveryRequiredComponent() {
        let health = HealthRegistry()
        health.requireForReadiness("listener")
        health.requireForReadiness("storage")
        // Not reported yet: not ready, and the answer says which.
        var readiness = health.readiness()
        #expect(readiness.status == "DOWN")
        #expect(readiness.components["storage"]?.details?["reason"] == "not reported yet")
        health.up("listener")
        health.down("storage", details: ["reason": "not loaded yet"])
        #expect(health.readiness().status == "DOWN")
        health.up("storage")
        readiness = health.readiness()
        #expect(readiness.status == "UP")
        #expect(Set(readiness.components.keys) == ["listener", "storage"])
        // DEGRADED counts as not ready unless the component allows it.
        health.degraded("storage", details: ["reason": "database unreachable"])
        #expect(health.readiness().status == "DOWN")
        #expect(health.snapshot().status == "UP", "/actuator/health keeps its rule: only DOWN makes it DOWN")
    }

    @Test func degradedIsReadyWhereAllowedAndAnyDownComponentIsNot() {
        let health = HealthRegistry()
        health.requireForReadiness("keystore", allowDegraded: true)
        health.degraded("keystore", details: ["reason": "reload failed, previous certificate in use"])
        #expect(health.readiness().status == "UP")
        // A component outside the required set that is DOWN still makes the service unready (as /actuator/health).
        health.down("cache", details: ["reason": "broken"])
        let readiness = health.readiness()
        #expect(readiness.status == "DOWN")
        #expect(readiness.components["cache"]?.status == "DOWN")
    }

    @Test func anExpiredCertificateIsNotReady() {
        let health = HealthRegistry()
        health.requireForReadiness("keystore", allowDegraded: true)
        let now = Date()
        health.up("keystore", details: ["not_after": RFC3339.string(now.addingTimeInterval(3600))])
        #expect(health.readiness(now: now).status == "UP")
        let later = now.addingTimeInterval(7200)
        let readiness = health.readiness(now: later)
        #expect(readiness.status == "DOWN")
        #expect(readiness.components["keystore"]?.details?["reason"]?.hasPrefix("certificate expired at ") == true)
    }

    @Test func livenessIsUpWhenEveryEventLoopAnswers() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let liveness = await ManagementServer.liveness(eventLoops: group, timeout: .seconds(2))
        try await group.shutdownGracefully()
        #expect(liveness.status == "UP")
        #expect(liveness.components["eventLoops"]?.details?["event_loops"] == "2")
    }

    @Test func livenessIsDownWithinTheTimeoutWhenAnEventLoopIsBlocked() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let release = Release()
        let loops = Array(group.makeIterator())
        // Block one loop the way a runaway computation would.
        loops[0].execute { release.waitBlocking() }
        let liveness = await ManagementServer.liveness(eventLoops: group, timeout: .milliseconds(300))
        release.open()
        try await group.shutdownGracefully()
        // The loop stays blocked until the probe has answered: DOWN means the deadline decided, not the
        // loop, whatever else keeps the machine busy.
        #expect(liveness.status == "DOWN")
        #expect(liveness.components["eventLoops"]?.details?["reason"]?.hasPrefix("1 of 2 event loops did not answer") == true)
    }
}

/// A gate a blocked event loop waits on (a test-only stand-in for a long computation on the loop).
private final class Release: Sendable {
    private let opened = Mutex(false)

    func open() { opened.withLock { $0 = true } }

    func waitBlocking() {
        let deadline = ContinuousClock.now + .seconds(120)   // a safety net: the test opens it
        while !opened.withLock({ $0 }), ContinuousClock.now < deadline {
            usleep(1000)
        }
    }
}
