import CertificateValidation
import Foundation
import ServiceLifecycle
import ServiceSupport

/// Health `ocsp`: each OCSP responder asked so far, its last success, the nextUpdate of its last answer and its last
/// error; degraded while a responder's last exchange failed (with failure policy `closed` its certificates are then
/// refused, with `open` accepted unchecked) or its last answer is past nextUpdate.
struct OCSPHealthReporter: Service {
    let client: OCSPClient
    let health: HealthRegistry
    let failure: RevocationFailurePolicy
    var interval: Duration = .seconds(5)

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
