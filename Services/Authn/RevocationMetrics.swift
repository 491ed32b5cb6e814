import Foundation
import Metrics
import Synchronization

/// Freshness and errors of the revocation sources, set by the reporters of health `crl` and `ocsp` (every few
/// seconds, never on a request):
/// `certauth_crl_next_update_timestamp_seconds{source}` and `certauth_crl_last_success_timestamp_seconds{source}` per
/// CRL file or distribution point URL, `certauth_ocsp_next_update_timestamp_seconds{source}` and
/// `certauth_ocsp_last_success_timestamp_seconds{source}` per OCSP responder, and
/// `certauth_revocation_fetch_failures_total{kind,source}` (kind `crl_file`, `crl_fetch` or `ocsp`).
///
/// A failure counter is made when its source is first reported (so it shows 0 before the first failure) and advanced
/// by the failures counted since the last report.
final class RevocationMetrics: Sendable {
    static let crlNextUpdate = "certauth_crl_next_update_timestamp_seconds"
    static let crlLastSuccess = "certauth_crl_last_success_timestamp_seconds"
    static let ocspNextUpdate = "certauth_ocsp_next_update_timestamp_seconds"
    static let ocspLastSuccess = "certauth_ocsp_last_success_timestamp_seconds"
    static let failuresTotal = "certauth_revocation_fetch_failures_total"

    enum Kind: String {
        case crlFile = "crl_file"
        case crlFetch = "crl_fetch"
        case ocsp
    }

    private let reported = Mutex<[String: Int]>([:])
    /// nil: the process's (`MetricsSystem.bootstrap`, onto `/metrics`).
    private let factory: (any MetricsFactory)?

    init(factory: (any MetricsFactory)? = nil) {
        self.factory = factory
    }

    /// One source's freshness: `nextUpdate` and `lastSuccess` as gauges (when known), `failures` (a running total
    /// kept by the source) into the counter.
    func record(kind: Kind, source: String, nextUpdate: Date?, lastSuccess: Date?, failures: Int) {
        let labels = [("source", source)]
        let (nextName, successName) = kind == .ocsp ? (Self.ocspNextUpdate, Self.ocspLastSuccess) : (Self.crlNextUpdate, Self.crlLastSuccess)
        let factory = self.factory ?? MetricsSystem.factory
        if let nextUpdate { Gauge(label: nextName, dimensions: labels, factory: factory).record(nextUpdate.timeIntervalSince1970) }
        if let lastSuccess { Gauge(label: successName, dimensions: labels, factory: factory).record(lastSuccess.timeIntervalSince1970) }
        let key = "\(kind.rawValue) \(source)"
        let delta = reported.withLock { seen -> Int? in
            let before = seen[key]
            seen[key] = max(failures, before ?? 0)
            guard let before else { return failures }
            return failures > before ? failures - before : nil
        }
        if let delta {
            let counter = Counter(label: Self.failuresTotal, dimensions: [("kind", kind.rawValue), ("source", source)], factory: factory)
            counter.increment(by: delta)
        }
    }
}
