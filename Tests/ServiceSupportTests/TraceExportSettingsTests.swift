import ServiceSupport
import Settings
import Testing

/// `OTEL_*` settings as the services and `certauth check-config` read them (the export itself: TraceExportProcessTests).
struct TraceExportSettingsTests {
    func settings(_ values: [String: String]) throws(ConfigurationError) -> TraceExportSettings? {
        try TraceExportSettings(environment: EnvironmentReader(values))
    }

    @Test func offWithoutAnEndpointOrWhenTheSDKIsDisabled() throws {
        #expect(try settings([:]) == nil)
        #expect(try settings(["OTEL_EXPORTER_OTLP_ENDPOINT": "  "]) == nil, "blank is unset (compose's empty default)")
        #expect(try settings(["OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]) == nil, "nothing else matters when off")
        #expect(try settings(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE"]) == nil)
    }

    @Test func theSignalSpecificEndpointWinsAndTheServiceNameIsKept() throws {
        let both = try #require(try settings([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://tempo.example/v1/traces",
            "OTEL_SERVICE_NAME": "authn-eu",
        ]))
        #expect(both.endpointVariable == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" && both.endpoint == "https://tempo.example/v1/traces")
        #expect(both.protocolName == "http/protobuf" && both.serviceName == "authn-eu")
        let explicit = try #require(try settings(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"]))
        #expect(explicit.serviceName == nil)
    }

    @Test(arguments: [
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"], "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"], "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http:///v1/traces"], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"], "OTEL_EXPORTER_OTLP_PROTOCOL"),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"], "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
    ])
    func aBadSettingNamesItsVariable(values: [String: String], variable: String) {
        #expect {
            _ = try settings(values)
        } throws: { error in
            (error as? ConfigurationError)?.description.hasPrefix(variable + ":") == true
        }
    }
}
