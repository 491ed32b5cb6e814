import AuthProtocol
import CertificateValidation
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import WireFormat

/// Keeps authn's CRLs current: checks the CRL files (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_CRL_PATHS`) for changes
/// every interval and refreshes the CRLs fetched from distribution points when due (ahead of their nextUpdate, and at
/// least every `…_MTLS_CRL_FETCH_INTERVAL`). On a change it forgets the cached certificate verdicts (a changed fetched
/// CRL does so through ``CRLFetcher/onChange(_:)``), so a newly revoked certificate is refused from the next request
/// on, even when its earlier verdict was cached.
///
/// Health `crl` shows each file's and each distribution point's CRLs (issuer, this and next update), last success and
/// last error; it is degraded while a file cannot be read, a distribution point's last fetch failed, or a CRL is past
/// its next update. The same freshness goes to ``RevocationMetrics``.
struct CRLReloader: Service {
    let store: CRLStore?
    var fetcher: CRLFetcher?
    let cache: CertificateVerdictCache
    let health: HealthRegistry
    let interval: Duration
    let failure: RevocationFailurePolicy
    let logger: Logger
    var metrics = RevocationMetrics()
    /// How often fetched CRLs are looked at for a due refresh, and health reported.
    var tick: Duration = .seconds(1)

    func run() async throws {
        report()
        await cancelWhenGracefulShutdown {
            var sinceReload: Duration = .zero
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                if Task.isCancelled { break }
                sinceReload += tick
                if let store, sinceReload >= interval {
                    sinceReload = .zero
                    reloadFiles(store)
                }
                if let fetcher, await fetcher.refreshDue() {
                    logger.info("A fetched CRL changed; cached certificate verdicts dropped")
                }
                for (uri, source) in fetcher?.status ?? [:] where source.lastError != nil {
                    if source.lastErrorAt.map({ Date().timeIntervalSince($0) < tick.seconds + 0.5 }) == true {
                        logger.warning("A CRL distribution point could not be fetched; its previous CRL stays in use until its nextUpdate", metadata: [
                            LogKey.urlFull: .string(uri), LogKey.errorMessage: .string(source.lastError ?? ""),
                        ])
                    }
                }
                report()
            }
        }
    }

    private func reloadFiles(_ store: CRLStore) {
        if store.reloadIfChanged() {
            cache.removeAll()
            logger.info("CRLs reloaded; cached certificate verdicts dropped", metadata: [
                LogKey.crlFiles: .string(store.paths.joined(separator: ",")),
            ])
        }
        for file in store.status where file.error != nil {
            logger.warning("A CRL file could not be read; its previous CRLs stay in use", metadata: [
                LogKey.filePath: .string(file.path), LogKey.errorMessage: .string(file.error ?? ""),
            ])
        }
    }

    static func describe(_ lists: [RevocationList], now: Date) -> String {
        lists.map { list in
            "\(DistinguishedNameFormat.string(list.issuer)) this_update=\(RFC3339.string(list.thisUpdate)) next_update=\(list.nextUpdate.map(RFC3339.string) ?? "none")\(list.nextUpdate.map { $0 < now } == true ? " (stale)" : "")"
        }.joined(separator: "; ")
    }

    func report(now: Date = Date()) {
        var details: [String: String] = ["failure": failure.rawValue]
        var degraded = false
        for (index, file) in (store?.status ?? []).enumerated() {
            details["file\(index)"] = file.path
            details["file\(index).crls"] = Self.describe(file.lists, now: now)
            if let success = file.lastSuccess { details["file\(index).last_success"] = RFC3339.string(success) }
            if let error = file.error {
                details["file\(index).last_error"] = error
                degraded = true
            }
            if file.lists.contains(where: { ($0.nextUpdate ?? .distantFuture) < now }) { degraded = true }
            metrics.record(
                kind: .crlFile, source: file.path, nextUpdate: file.lists.compactMap(\.nextUpdate).min(),
                lastSuccess: file.lastSuccess, failures: file.failures)
        }
        for (index, (uri, source)) in (fetcher?.status ?? [:]).sorted(by: { $0.key < $1.key }).enumerated() {
            details["url\(index)"] = uri
            details["url\(index).crls"] = Self.describe(source.lists, now: now)
            if let success = source.lastSuccess { details["url\(index).last_success"] = RFC3339.string(success) }
            details["url\(index).refresh_at"] = RFC3339.string(source.refreshAt)
            if let error = source.lastError {
                details["url\(index).last_error"] = error
                if let at = source.lastErrorAt { details["url\(index).last_error_at"] = RFC3339.string(at) }
                degraded = true
            }
            if source.lists.contains(where: { ($0.nextUpdate ?? .distantFuture) < now }) { degraded = true }
            metrics.record(
                kind: .crlFetch, source: uri, nextUpdate: source.lists.compactMap(\.nextUpdate).min(),
                lastSuccess: source.lastSuccess, failures: source.failures)
        }
        if degraded {
            health.degraded("crl", details: details)
        } else {
            health.up("crl", details: details)
        }
    }
}

extension Duration {
    /// Whole and fractional seconds.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
