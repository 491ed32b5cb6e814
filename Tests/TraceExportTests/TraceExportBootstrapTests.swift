import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import Settings
import Testing
import TraceExport
import Tracing

/// What `TraceExport.bootstrap` installs, without a collector: the OTLP tracer becomes the process's instrument, so
/// ``ServiceTracing`` makes real spans whose ids continue an incoming `traceparent` and differ per span. (Spans reaching
/// a collector over OTLP/HTTP: `EndToEndTests/TraceExportProcessTests`.) One test: the instrument is process-wide
/// and can be bootstrapped once.
@Suite(.serialized) struct TraceExportBootstrapTests {
    @Test func bootstrapInstallsTheTracerAndSpansContinueTheIncomingTrace() async throws {
        // An endpoint nothing listens on: the exporter only connects when its service runs, which this test never does.
        let settings = try #require(try TraceExportSettings(environment: EnvironmentReader([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "trace-export-test",
        ])))
        #expect(settings.endpoint == "http://127.0.0.1:9" && settings.protocolName == "http/protobuf")
        #expect(!ServiceTracing.isEnabled, "nothing is traced before the exporter is installed")

        let service = try TraceExport.bootstrap(name: "trace-export-test", settings: settings, logger: Logger(label: "test"))
        #expect(ServiceTracing.isEnabled)
        _ = service  // run in the service group by ServiceMain; not here (it would export to the endpoint above)

        let incoming = TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", flags: "01")
        let (outer, inner) = await ServiceTracing.withSpan("outer", trace: incoming) { outer in
            await ServiceTracing.withSpan("inner") { inner in (outer, inner) }
        }
        let outerTrace = try #require(outer)
        let innerTrace = try #require(inner)
        #expect(outerTrace.traceID == incoming.traceID, "the span continues the caller's trace")
        #expect(outerTrace.spanID != incoming.spanID, "with a span id of its own")
        #expect(innerTrace.traceID == incoming.traceID && innerTrace.spanID != outerTrace.spanID, "a child span under the current one")
        #expect(TraceContext(traceparent: outerTrace.traceparent) == outerTrace, "what the span sends is a valid traceparent")

        // Without an incoming trace, a span starts one.
        let fresh = try #require(await ServiceTracing.withSpan("fresh") { $0 })
        #expect(fresh.traceID != incoming.traceID && fresh.traceID.utf8.count == 32)
    }
}
