import CoreMetrics
import Prometheus
import ServiceSupport
import Testing

/// What `/metrics` shows: Prometheus names, renamed labels and a HELP line for every metric family.
@Suite struct MetricsCatalogTests {
    @Test func hummingbirdAndOwnMetricsGetPrometheusNamesLabelsAndHelp() {
        let registry = PrometheusCollectorRegistry()
        let factory = CertAuthMetricsFactory(registry: registry)
        let request = [("http.route", "/v1/token"), ("http.request.method", "POST"), ("http.response.status_code", "200")]
        factory.makeCounter(label: "hb.requests", dimensions: request).increment(by: 2)
        factory.makeTimer(label: "http.server.request.duration", dimensions: request).recordNanoseconds(1_500_000)
        factory.makeRecorder(
            label: CertificateMetrics.expirationName, dimensions: [("role", "server"), ("x5t_s256", "abc")], aggregate: false
        ).record(Int64(1_800_000_000))
        factory.makeCounter(label: "certauth_token_exchanges_total", dimensions: []).increment(by: 1)
        factory.makeCounter(label: "some.library.metric", dimensions: [("a.b", "c")]).increment(by: 1)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)

        #expect(text.contains("# HELP http_server_requests_total HTTP requests answered, by route, method and status code."))
        #expect(text.contains(#"http_server_requests_total{route="/v1/token",method="POST",status="200"} 2"#))
        #expect(text.contains("# TYPE http_server_request_duration_seconds histogram"))
        #expect(text.contains(#"http_server_request_duration_seconds_count{route="/v1/token",method="POST",status="200"} 1"#))
        #expect(text.contains(#"certauth_certificate_expiration_timestamp_seconds{role="server",x5t_s256="abc"} 1800000000"#))
        #expect(text.contains("# HELP certauth_token_exchanges_total "))
        // Not in the catalog: still a valid name, and a HELP line that says so.
        #expect(text.contains(#"some_library_metric{a_b="c"} 1"#))
        #expect(text.contains("# HELP some_library_metric some.library.metric (not described in MetricsCatalog)"))

        let lines = text.split(separator: "\n")
        let typed = Set(lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(lines.filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(typed == helped, "every metric family has a HELP line")
        #expect(typed.count == 5)
    }

    @Test func precreatedCountersShowFromTheStartAndCountWithoutNewSeries() {
        let registry = PrometheusCollectorRegistry()
        let counters = PrecreatedCounters(registry: registry, name: "certauth_authn_decisions_total", keys: ["a", "b"]) { key in
            [("method", "oidc"), ("result", "unauthenticated"), ("reason", key)]
        }
        counters.increment("a")
        counters.increment("a")
        counters.increment("unexpected")  // made on first use
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains("# HELP certauth_authn_decisions_total authn's decisions"))
        #expect(text.contains(#"certauth_authn_decisions_total{method="oidc",result="unauthenticated",reason="a"} 2"#))
        #expect(text.contains(#"certauth_authn_decisions_total{method="oidc",result="unauthenticated",reason="b"} 0"#))
        #expect(text.contains(#"certauth_authn_decisions_total{method="oidc",result="unauthenticated",reason="unexpected"} 1"#))
    }

    @Test func everyCatalogNameFollowsPrometheusConventions() {
        for (label, entry) in MetricsCatalog.entries {
            #expect(!entry.help.isEmpty, "\(label)")
            #expect(entry.name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }, "\(entry.name)")
            if label.contains("duration") { #expect(entry.name.hasSuffix("_seconds"), "\(entry.name)") }
            if label == "hb.requests" || label == "hb.request.errors" || label.hasSuffix("_total") {
                #expect(entry.name.hasSuffix("_total"), "\(entry.name)")
            }
        }
    }
}
