import AuthProtocol
import Logging
import OTel
import ServiceLifecycle
import ServiceSupport
import Tracing

/// Trace export over OTLP/HTTP with swift-otel, for the service executables:
/// `ServiceMain.run(name:tracing: TraceExport.bootstrap, build:)`. The libraries make their spans through
/// swift-distributed-tracing's API alone (``ServiceTracing``); only the executables link swift-otel.
///
/// Started only when ``TraceExportSettings`` finds an endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); swift-otel then reads
/// the standard OpenTelemetry variables itself: `OTEL_SERVICE_NAME` (default here: the executable's name),
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
/// `OTEL_EXPORTER_OTLP_CERTIFICATE` (and the client certificate and key for mutual TLS), `OTEL_TRACES_SAMPLER` /
/// `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`. Only traces: logs stay JSON lines on standard error, metrics on `/metrics`.
public enum TraceExport {
    /// Installs the OTLP tracer and returns the service that exports (run it in the service group, before the others:
    /// it flushes the last spans once they have stopped).
    public static func bootstrap(name: String, settings: TraceExportSettings, logger: Logger) throws -> any Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = name
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        ServiceTracing.enable()
        logger.info("Exporting traces over OTLP/HTTP", metadata: [
            LogKey.otlpEndpoint: .string(settings.endpoint), LogKey.otlpProtocol: .string(settings.protocolName),
            LogKey.serviceName: .string(settings.serviceName ?? name),
        ])
        return backend.service
    }
}
