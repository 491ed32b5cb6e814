import AuthProtocol
import Logging
import Synchronization
import Tracing

/// Whether this process exports spans. Off unless the service executable's trace export started
/// (`OTEL_EXPORTER_OTLP_ENDPOINT` set, see the `TraceExport` module): every span site checks ``isEnabled`` first and,
/// when it is off, does nothing else (one relaxed atomic load; no allocation, no lock), so a service without an
/// exporter pays nothing on the lean path.
public enum ServiceTracing {
    private static let enabled = Atomic<Bool>(false)

    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Called once by the trace export's bootstrap, after `InstrumentationSystem.bootstrap`.
    public static func enable() {
        enabled.store(true, ordering: .releasing)
    }

    /// Adds `trace_id` and `span_id` of the task's current span to every log line (so the lines a token exchange or a
    /// JWKS fetch writes name the trace their span is in). Adds nothing when tracing is off or no span is current.
    public static let logMetadataProvider = Logger.MetadataProvider {
        guard isEnabled, let context = InstrumentationContext.current, let trace = TraceContext(context: context) else { return [:] }
        return [LogKey.traceID: .string(trace.traceID), LogKey.spanID: .string(trace.spanID)]
    }

    /// The context new spans hang under: the task's current span if there is one, else `trace` (the request's trace as
    /// it travels through the code as a ``TraceContext``), else none (a new trace).
    static func parentContext(_ trace: TraceContext?) -> InstrumentationContext {
        if let current = InstrumentationContext.current { return current }
        return trace?.instrumentationContext ?? .topLevel
    }

    /// Runs `operation` in a span named `name` when tracing is on (child of the task's current span, else of `trace`);
    /// the span records a thrown error's type and ends when `operation` returns. `operation` gets the span's trace (for a
    /// `traceparent` it sends), or `trace` itself when tracing is off. With tracing off this is a plain call.
    ///
    /// `onlyWithinTrace`: no span unless there is a parent (for frequent background work, such as polling a
    /// database, that would otherwise make a trace of its own every few hundred milliseconds).
    public static func withSpan<T, Failure: Error>(
        _ name: String, kind: SpanKind = .internal, trace: TraceContext? = nil, attributes: SpanAttributes = [:],
        onlyWithinTrace: Bool = false, isolation: isolated (any Actor)? = #isolation,
        _ operation: (TraceContext?) async throws(Failure) -> T
    ) async throws(Failure) -> T {
        guard isEnabled, !onlyWithinTrace || trace != nil || InstrumentationContext.current != nil else { return try await operation(trace) }
        let span = startSpan(name, context: parentContext(trace), ofKind: kind)
        if !attributes.isEmpty { span.attributes.merge(attributes) }
        defer { span.end() }
        let spanTrace = TraceContext(context: span.context) ?? trace
        let result: Result<T, Failure> = await InstrumentationContext.$current.withValue(span.context) {
            do throws(Failure) {
                return .success(try await operation(spanTrace))
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result { recordFailure(error, on: span) }
        return try result.get()
    }

    /// Marks `span` failed with the error's type as `error.type` (OpenTelemetry's convention). Not the error's text:
    /// spans leave the process like logs, and a message is the one place a caller's input could travel into them.
    public static func recordFailure(_ error: any Error, on span: any Span) {
        span.attributes["error.type"] = String(describing: type(of: error))
        span.setStatus(SpanStatus(code: .error))
    }

    /// A client span for an outgoing call, child of the task's current span (else of `trace`); nil when tracing is off.
    /// End it when the call is done, and send the request ``within(_:_:)`` it.
    public static func clientSpan(_ name: String, trace: TraceContext? = nil) -> (any Span)? {
        guard isEnabled else { return nil }
        return startSpan(name, context: parentContext(trace), ofKind: .client)
    }

    /// Runs `body` with `span` as the task's current span (a plain call for nil). AsyncHTTPClient, once a tracer is
    /// installed, makes its own `GET`/`POST` span under the current one and sends it as `traceparent`: so a request
    /// sent within a client span is traced under it, and must not get a `traceparent` of ours as well (two values
    /// would make the receiver start a new trace).
    public static func within<T>(
        _ span: (any Span)?, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        guard let span else { return try await body() }
        return try await InstrumentationContext.$current.withValue(span.context) { try await body() }
    }
}

extension TraceContext {
    /// The trace of the span in `context` as the installed tracer would send it in `traceparent`; nil when `context`
    /// holds no span (or tracing is off).
    public init?(context: InstrumentationContext) {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: TraceparentCarrier())
        guard let value = carrier[TraceparentCarrier.key], let trace = TraceContext(traceparent: value) else { return nil }
        self = trace
    }

    /// This trace as a parent for spans: the context the installed tracer extracts from this `traceparent`.
    public var instrumentationContext: InstrumentationContext {
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract([TraceparentCarrier.key: traceparent], into: &context, using: TraceparentCarrier())
        return context
    }
}

/// Carries `traceparent` between ``TraceContext`` and the tracer's own context.
struct TraceparentCarrier: Injector, Extractor {
    static let key = "traceparent"

    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }

    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}

/// The server span of one request (both paths: the router's ``TracingMiddleware`` and the lean path's immediate
/// answers): `METHOD route`, child of the request's `traceparent`, with the HTTP attributes of OpenTelemetry's
/// semantic conventions. Only made when ``ServiceTracing/isEnabled``.
struct ServerSpan {
    let span: any Span
    let method: String
    /// The span's trace: what the answer's `traceparent` and the request's log lines carry.
    let trace: TraceContext

    init(method: String, path: String, incoming: TraceContext?, at start: DefaultTracerClock.Instant = DefaultTracerClock.now) {
        let parent = incoming?.instrumentationContext ?? .topLevel
        // Named by the method until the route is known (a path would make a name per resource, or per probe of a
        // scanner); OpenTelemetry's `{method} {route}` once it is.
        let span = startSpan(method, at: start, context: parent, ofKind: .server)
        span.attributes["http.request.method"] = method
        span.attributes["url.path"] = path
        self.span = span
        self.method = method
        self.trace = TraceContext(context: span.context) ?? incoming?.child() ?? TraceContext.random()
    }

    func end(status: Int, route: String? = nil) {
        span.attributes["http.response.status_code"] = status
        if let route {
            span.attributes["http.route"] = route
            span.operationName = "\(method) \(route)"
        }
        if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
        span.end()
    }
}
