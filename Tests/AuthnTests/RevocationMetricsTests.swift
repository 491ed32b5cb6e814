@testable import Authn
import Foundation
import Prometheus
import ServiceSupport
import Testing

/// Revocation freshness and failures as `/metrics` shows them (issue 17): catalog names with HELP, a failure counter
/// at 0 from its source's first report, advanced by the failures counted since.
struct RevocationMetricsTests {
    @Test func freshnessGaugesAndFailureCounters() {
        let registry = PrometheusCollectorRegistry()
        let metrics = RevocationMetrics(factory: CertAuthMetricsFactory(registry: registry))
        func page() -> String {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        let url = "http://crl.example/ca.crl"
        metrics.record(kind: .crlFetch, source: url, nextUpdate: Date(timeIntervalSince1970: 2_000_000_000),
                       lastSuccess: Date(timeIntervalSince1970: 1_900_000_000), failures: 0)
        metrics.record(kind: .ocsp, source: "http://ocsp.example/", nextUpdate: Date(timeIntervalSince1970: 2_000_000_100),
                       lastSuccess: nil, failures: 2)
        var text = page()
        #expect(text.contains(#"certauth_crl_next_update_timestamp_seconds{source="http://crl.example/ca.crl"} 2000000000"#), "\(text)")
        #expect(text.contains(#"certauth_crl_last_success_timestamp_seconds{source="http://crl.example/ca.crl"} 1900000000"#), "\(text)")
        #expect(text.contains(#"certauth_revocation_fetch_failures_total{kind="crl_fetch",source="http://crl.example/ca.crl"} 0"#), "\(text)")
        #expect(text.contains(#"certauth_ocsp_next_update_timestamp_seconds{source="http://ocsp.example/"} 2000000100"#), "\(text)")
        #expect(text.contains(#"certauth_revocation_fetch_failures_total{kind="ocsp",source="http://ocsp.example/"} 2"#), "\(text)")
        for family in ["certauth_crl_next_update_timestamp_seconds", "certauth_crl_last_success_timestamp_seconds",
                       "certauth_ocsp_next_update_timestamp_seconds", "certauth_revocation_fetch_failures_total"] {
            #expect(text.contains("# HELP \(family) ") && !text.contains("\(family) (not described"), "\(family)")
        }
        // Running totals from the sources: only the increase is added, a repeat adds nothing.
        metrics.record(kind: .crlFetch, source: url, nextUpdate: nil, lastSuccess: nil, failures: 3)
        metrics.record(kind: .crlFetch, source: url, nextUpdate: nil, lastSuccess: nil, failures: 3)
        metrics.record(kind: .ocsp, source: "http://ocsp.example/", nextUpdate: nil, lastSuccess: nil, failures: 5)
        text = page()
        #expect(text.contains(#"certauth_revocation_fetch_failures_total{kind="crl_fetch",source="http://crl.example/ca.crl"} 3"#), "\(text)")
        #expect(text.contains(#"certauth_revocation_fetch_failures_total{kind="ocsp",source="http://ocsp.example/"} 5"#), "\(text)")
    }
}
