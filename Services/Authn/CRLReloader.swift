import CertificateValidation
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport

/// Checks the CRL files (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS`) for changes every interval; on a change it
/// forgets the cached certificate verdicts, so a newly revoked certificate is refused from the next request on, even
/// when its earlier verdict was cached. Health `crl` shows each file's CRLs (issuer, this and next update) and the
/// last error; it is degraded while a file cannot be read or a CRL is past its next update.
struct CRLReloader: Service {
    let store: CRLStore
    let cache: CertificateVerdictCache
    let health: HealthRegistry
    let interval: Duration
    let failure: RevocationFailurePolicy
    let logger: Logger

    func run() async throws {
        report()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                if store.reloadIfChanged() {
                    cache.removeAll()
                    logger.info("CRLs reloaded; cached certificate verdicts dropped", metadata: [
                        "files": .string(store.paths.joined(separator: ",")),
                    ])
                }
                for file in store.status where file.error != nil {
                    logger.warning("A CRL file could not be read; its previous CRLs stay in use", metadata: [
                        "file": .string(file.path), "error": .string(file.error ?? ""),
                    ])
                }
                report()
            }
        }
    }

    func report(now: Date = Date()) {
        var details: [String: String] = ["failure": failure.rawValue]
        var degraded = false
        for (index, file) in store.status.enumerated() {
            let lists = file.lists.map { list in
                "\(DistinguishedNameFormat.string(list.issuer)) this_update=\(RFC3339.string(list.thisUpdate)) next_update=\(list.nextUpdate.map(RFC3339.string) ?? "none")\(list.nextUpdate.map { $0 < now } == true ? " (stale)" : "")"
            }
            details["file\(index)"] = file.path
            details["file\(index).crls"] = lists.joined(separator: "; ")
            if let error = file.error {
                details["file\(index).last_error"] = error
                degraded = true
            }
            if file.lists.contains(where: { ($0.nextUpdate ?? .distantFuture) < now }) { degraded = true }
        }
        if degraded {
            health.degraded("crl", details: details)
        } else {
            health.up("crl", details: details)
        }
    }
}
