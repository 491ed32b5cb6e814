import CertificateValidation
import Foundation
import ServiceLifecycle
import ServiceSupport
import WireFormat

/// Health `ocsp`: each OCSP responder asked so far, its last success, the nextUpdate of its last answer and its last
/// error; degraded while a responder's last exchange failed (with failure policy `closed` its certificates are then
/// refused, with `open` accepted unchecked) or its last answer is past nextUpdate. The same freshness goes to
/// ``RevocationMetrics`` (`certauth_ocsp_*{source}`, `certauth_revocation_fetch_failures_total{kind="ocsp"}`).
struct OCSPHealthReporter: Service {
    let client: OCSPClient
    let health: HealthRegistry
    let failure: RevocationFailurePolicy
    var interval: Duration = .seconds(5)
    var metrics = RevocationMetrics()

    func run() async throws {
        report()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                report()
            }
        }
    }

    func report(now: Date = Date()) {
        var details: [String: String] = ["failure": failure.rawValue]
        var degraded = false
        for (index, (uri, status)) in client.responders.sorted(by: { $0.key < $1.key }).enumerated() {
            details["responder\(index)"] = uri
            if let success = status.lastSuccess { details["responder\(index).last_success"] = RFC3339.string(success) }
            if let next = status.nextUpdate {
                details["responder\(index).next_update"] = RFC3339.string(next) + (next < now ? " (stale)" : "")
                if next < now, status.lastError != nil { degraded = true }
            }
            metrics.record(kind: .ocsp, source: uri, nextUpdate: status.nextUpdate, lastSuccess: status.lastSuccess, failures: status.failures)
            if let error = status.lastError {
                details["responder\(index).last_error"] = error
                if let at = status.lastErrorAt { details["responder\(index).last_error_at"] = RFC3339.string(at) }
                degraded = true
            }
        }
        if degraded {
            health.degraded("ocsp", details: details)
        } else {
            health.up("ocsp", details: details)
        }
    }
}
