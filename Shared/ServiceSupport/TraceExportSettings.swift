import Foundation
import Settings

/// The trace export settings (OpenTelemetry's own variables), checked at start and by `certauth check-config`; the
/// exporter itself (swift-otel, linked only into the service executables) reads the rest of the `OTEL_*` variables.
///
/// ## Configuration keys
/// - `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): the collector's OTLP/HTTP base URL, e.g.
///   `http://otel-collector:4318` (spans go to `/v1/traces` under it; the `_TRACES_` variable is used as is). Unset:
///   no spans are made and nothing is exported.
/// - `OTEL_EXPORTER_OTLP_PROTOCOL` / `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: `http/protobuf` (the default and only
///   value: the build has no gRPC exporter, and swift-otel's `http/json` writes ids collectors refuse).
/// - `OTEL_SDK_DISABLED=true`: export off even with an endpoint.
/// - `OTEL_SERVICE_NAME` (default: the executable's name), `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`).
public struct TraceExportSettings: Sendable, Equatable {
    public var endpointVariable: String
    public var endpoint: String
    public var protocolName: String
    public var serviceName: String?

    public static let endpointVariables = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
    public static let protocols = ["http/protobuf"]

    /// Nil when no endpoint is set (or `OTEL_SDK_DISABLED=true`): export off.
    public init?(environment: EnvironmentReader) throws(ConfigurationError) {
        guard let (variable, endpoint) = environment.first(of: Self.endpointVariables) else { return nil }
        if environment.string("OTEL_SDK_DISABLED")?.lowercased() == "true" { return nil }
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty
        else {
            throw ConfigurationError(
                variable: variable,
                message: "'\(endpoint)' is not an http(s) URL; expected the collector's OTLP/HTTP address, e.g. http://otel-collector:4318")
        }
        let protocolSetting = environment.first(of: ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"])
        if let protocolSetting, !Self.protocols.contains(protocolSetting.value) {
            // http/json: swift-otel 1.6.0 writes trace and span ids in base64 there (protobuf's JSON mapping), where
            // OTLP/JSON asks for hex, so a collector would refuse or garble every span.
            let why = protocolSetting.value == "http/json"
                ? "the exporter's OTLP/JSON writes trace ids in base64, which collectors refuse"
                : "CertAuth exports over OTLP/HTTP only (no gRPC)"
            throw ConfigurationError(
                variable: protocolSetting.name,
                message: "'\(protocolSetting.value)' is not supported (\(why)); unset it or use http/protobuf, with the collector's OTLP/HTTP port (4318)")
        }
        self.endpointVariable = variable
        self.endpoint = endpoint
        self.protocolName = protocolSetting?.value ?? "http/protobuf"
        self.serviceName = environment.string("OTEL_SERVICE_NAME")
    }
}
