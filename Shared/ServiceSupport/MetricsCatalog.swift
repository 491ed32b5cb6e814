import CoreMetrics
import Prometheus

/// Every metric the services export, with its Prometheus name, label names and HELP text. swift-metrics users (our
/// counters, Hummingbird's MetricsMiddleware) record under their own labels; ``CertAuthMetricsFactory`` renames them
/// here, so `/metrics` follows Prometheus' conventions (`_total` counters, `_seconds` durations, a HELP line each).
public enum MetricsCatalog {
    public struct Entry: Sendable {
        public var name: String
        public var help: String
        /// swift-metrics dimension -> Prometheus label.
        public var labels: [String: String]
    }

    static let http = ["http.route": "route", "http.request.method": "method", "http.response.status_code": "status"]

    public static let entries: [String: Entry] = [
        // Hummingbird's MetricsMiddleware.
        "hb.requests": Entry(
            name: "http_server_requests_total",
            help: "HTTP requests answered, by route, method and status code.", labels: http),
        "http.server.request.duration": Entry(
            name: "http_server_request_duration_seconds",
            help: "Time from receiving a request to sending its response, by route, method and status code.", labels: http),
        "hb.request.errors": Entry(
            name: "http_server_request_errors_total",
            help: "HTTP requests answered with an error, by route, method and status code.",
            labels: ["http.route": "route", "http.request.method": "method", "error.type": "status"]),
        "http.server.active_requests": Entry(
            name: "http_server_active_requests",
            help: "HTTP requests in progress, by method.", labels: ["http.request.method": "method"]),
        // The suite's own.
        CertificateMetrics.expirationName: Entry(
            name: CertificateMetrics.expirationName,
            help: "When a certificate this service holds (role server, client_credential, client_credential_next) or trusts (trusted_ca, client_ca, client_intermediate, trusted_proxy) expires, in Unix seconds, by role and x5t#S256 thumbprint.",
            labels: ["role": "role", "x5t_s256": "x5t_s256"]),
        "certauth_jwks_last_success_timestamp_seconds": Entry(
            name: "certauth_jwks_last_success_timestamp_seconds",
            help: "When authn last fetched the IdP's signing keys (JWKS) successfully, in Unix seconds.", labels: [:]),
        "certauth_jwks_refresh_failures_total": Entry(
            name: "certauth_jwks_refresh_failures_total",
            help: "Fetches of the IdP's signing keys (JWKS) that failed (network, TLS, status, or an unusable key set); authn keeps the keys it has.", labels: [:]),
        "certauth_crl_next_update_timestamp_seconds": Entry(
            name: "certauth_crl_next_update_timestamp_seconds",
            help: "When authn's current CRL from a source (a CRL file or a CRL distribution point URL) is due to be replaced (its earliest nextUpdate), in Unix seconds; past it the CRL is stale and the revocation failure policy decides.",
            labels: ["source": "source"]),
        "certauth_crl_last_success_timestamp_seconds": Entry(
            name: "certauth_crl_last_success_timestamp_seconds",
            help: "When authn last read a CRL file or fetched a CRL distribution point successfully, in Unix seconds, by source.",
            labels: ["source": "source"]),
        "certauth_ocsp_next_update_timestamp_seconds": Entry(
            name: "certauth_ocsp_next_update_timestamp_seconds",
            help: "The nextUpdate of the last answer of an OCSP responder, in Unix seconds, by responder URL (source).",
            labels: ["source": "source"]),
        "certauth_ocsp_last_success_timestamp_seconds": Entry(
            name: "certauth_ocsp_last_success_timestamp_seconds",
            help: "When an OCSP responder last answered authn, in Unix seconds, by responder URL (source).",
            labels: ["source": "source"]),
        "certauth_revocation_fetch_failures_total": Entry(
            name: "certauth_revocation_fetch_failures_total",
            help: "Revocation data authn could not get, by kind (crl_file: a CRL file unreadable; crl_fetch: a CRL distribution point failed; ocsp: an OCSP exchange failed) and source (file or URL); the last good data stays in use until its nextUpdate.",
            labels: ["kind": "kind", "source": "source"]),
        "certauth_authn_decisions_total": Entry(
            name: "certauth_authn_decisions_total",
            help: "authn's decisions on callers, by credential method (oidc, mtls, session, anonymous, none), result (accepted, unauthenticated, forbidden, unavailable) and reason (the short code of the 401/403/503 body's \"reason\"; ok when accepted).",
            labels: ["method": "method", "result": "result", "reason": "reason"]),
        "certauth_token_exchange_duration_seconds": Entry(
            name: "certauth_token_exchange_duration_seconds",
            help: "Duration of token exchanges token-issuer made at the IdP, by outcome (success, idp_error, transport_error) and AADSTS code (none when the IdP gave none).",
            labels: ["outcome": "outcome", "aadsts": "aadsts"]),
        "certauth_token_issuer_handouts_total": Entry(
            name: "certauth_token_issuer_handouts_total",
            help: "Tokens and client assertions token-issuer handed out, by kind (token, client_assertion), calling service and scope (or audience).",
            labels: ["kind": "kind", "caller": "caller", "scope": "scope"]),
        "certauth_token_exchanges_total": Entry(
            name: "certauth_token_exchanges_total",
            help: "Token exchanges token-issuer made at the IdP (client credentials with a signed client assertion).", labels: [:]),
        "certauth_token_exchange_failures_total": Entry(
            name: "certauth_token_exchange_failures_total",
            help: "Token exchanges at the IdP that failed (network, TLS, or an AADSTS error).", labels: [:]),
        "certauth_credential_rotation_steps_total": Entry(
            name: "certauth_credential_rotation_steps_total",
            help: "Steps of token-issuer's zero-touch certificate rotation at Entra, by step (verify, graph_token, add_key, switch, find_key, remove_key) and outcome (success, failure); a failed step leaves the working certificate in use and is retried.",
            labels: ["step": "step", "outcome": "outcome"]),
        "certauth_credential_fallbacks_total": Entry(
            name: "certauth_credential_fallbacks_total",
            help: "Token exchanges token-issuer retried with its other client certificate after the IdP refused one (a certificate-class AADSTS code such as 700027).", labels: [:]),
        "certauth_token_cache_hits_total": Entry(
            name: "certauth_token_cache_hits_total",
            help: "Token requests token-issuer answered from its cache.", labels: [:]),
        "certauth_token_cache_misses_total": Entry(
            name: "certauth_token_cache_misses_total",
            help: "Token requests that needed a token exchange at the IdP.", labels: [:]),
        "certauth_roles_resolutions_total": Entry(
            name: "certauth_roles_resolutions_total",
            help: "Role resolutions roles answered.", labels: [:]),
        "certauth_roles_admin_grants_total": Entry(
            name: "certauth_roles_admin_grants_total",
            help: "Role resolutions that granted an admin role.", labels: [:]),
        "certauth_roles_writes_total": Entry(
            name: "certauth_roles_writes_total",
            help: "Changes to mapping rules, roles and assignments.", labels: [:]),
    ]

    /// The descriptor (name and HELP text) of a catalog metric, for code that registers on a service's
    /// `PrometheusCollectorRegistry` directly.
    public static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: entries[name]?.name ?? sanitize(name), unitName: "", helpText: entries[name]?.help ?? name)
    }

    /// The Prometheus name, labels and HELP text for a swift-metrics label and its dimensions. A label missing from
    /// the catalog still exports (its characters made valid) with a HELP line saying so.
    public static func resolve(_ label: String, _ dimensions: [(String, String)]) -> Resolved {
        guard let entry = entries[label] else {
            return Resolved(
                name: sanitize(label), labels: dimensions.map { (sanitize($0.0), $0.1) },
                help: "\(label) (not described in MetricsCatalog)")
        }
        return Resolved(name: entry.name, labels: dimensions.map { (entry.labels[$0.0] ?? sanitize($0.0), $0.1) }, help: entry.help)
    }

    /// A metric as the registry gets it.
    public struct Resolved {
        public var name: String
        public var labels: [(String, String)]
        public var help: String

        var descriptor: MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
    }

    static func sanitize(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }
}

/// swift-metrics onto a Prometheus registry with the names, labels and HELP texts of ``MetricsCatalog``.
public struct CertAuthMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let durationBuckets: [Duration]
    let valueBuckets: [Double]

    public init(registry: PrometheusCollectorRegistry) {
        let defaults = PrometheusMetricsFactory(registry: registry)
        self.registry = registry
        self.durationBuckets = defaults.defaultDurationHistogramBuckets
        self.valueBuckets = defaults.defaultValueHistogramBuckets
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let metric = MetricsCatalog.resolve(label, dimensions)
        return registry.makeCounter(descriptor: metric.descriptor, labels: metric.labels)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let metric = MetricsCatalog.resolve(label, dimensions)
        return registry.makeCounter(descriptor: metric.descriptor, labels: metric.labels)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let metric = MetricsCatalog.resolve(label, dimensions)
        guard aggregate else {
            return registry.makeGauge(descriptor: metric.descriptor, labels: metric.labels)
        }
        return registry.makeValueHistogram(descriptor: metric.descriptor, labels: metric.labels, buckets: valueBuckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let metric = MetricsCatalog.resolve(label, dimensions)
        return registry.makeGauge(descriptor: metric.descriptor, labels: metric.labels)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let metric = MetricsCatalog.resolve(label, dimensions)
        return registry.makeDurationHistogram(descriptor: metric.descriptor, labels: metric.labels, buckets: durationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: registry.unregisterGauge(gauge)
        case let histogram as Histogram<Double>: registry.unregisterValueHistogram(histogram)
        default: break
        }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? Histogram<Duration> { registry.unregisterDurationHistogram(histogram) }
    }
}

/// Counters for a fixed set of label values, made once on a service's registry (HELP text from ``MetricsCatalog``)
/// and looked up in an immutable dictionary: the request path counts without a lock and without building a
/// swift-metrics `Counter` per request. A key outside the set (a label combination nobody expected) is made on first
/// use through the registry, which takes its lock: correct, only slower.
public struct PrecreatedCounters<Key: Hashable & Sendable>: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String
    private let labels: @Sendable (Key) -> [(String, String)]
    private let counters: [Key: Prometheus.Counter]

    /// `name` is the Prometheus name (a ``MetricsCatalog`` entry gives the HELP text); `keys` the label sets to
    /// make up front (they show as 0 from the start, so `rate()` and `increase()` see the first one).
    public init(
        registry: PrometheusCollectorRegistry, name: String, keys: some Sequence<Key>,
        labels: @escaping @Sendable (Key) -> [(String, String)]
    ) {
        self.registry = registry
        self.name = name
        self.labels = labels
        let descriptor = MetricsCatalog.descriptor(name)
        var counters: [Key: Prometheus.Counter] = [:]
        for key in keys where counters[key] == nil {
            counters[key] = registry.makeCounter(descriptor: descriptor, labels: labels(key))
        }
        self.counters = counters
    }

    public func increment(_ key: Key) {
        if let counter = counters[key] {
            counter.increment()
        } else {
            registry.makeCounter(descriptor: MetricsCatalog.descriptor(name), labels: labels(key)).increment()
        }
    }
}
