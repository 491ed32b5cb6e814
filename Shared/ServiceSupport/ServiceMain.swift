import AuthProtocol
import CPlatform
import Foundation
import Keystore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Settings
import UnixSignals

/// What a service's `main` runs: settings read, logging and metrics installed, the service built and run until
/// SIGTERM or SIGINT. A configuration or keystore problem prints one line and exits with status 1.
public enum ServiceMain {
    /// The prefixes of every setting the suite reads (docs/security-model.md): only these `NAME_FILE` variables are
    /// read as secret files (``EnvironmentReader/readingFiles(_:prefixes:)``).
    public static let settingPrefixes = [
        "SERVER_", "MANAGEMENT_", "CAMUNDA_", "INITIAL_", "IDENTITY_", "ENTRA_EMULATOR_", "LOG_",
    ]

    /// Starts trace export (`TraceExport.bootstrap`): installs the tracer and returns the service that exports.
    public typealias TraceExportBootstrap = @Sendable (_ name: String, _ settings: TraceExportSettings, _ logger: Logger) throws -> any Service

    /// Everything a service needs from the process, handed to its builder.
    public struct Environment: Sendable {
        public var reader: EnvironmentReader
        public var logger: Logger
        public var metrics: PrometheusCollectorRegistry
    }

    /// What a service's builder hands back: the services to run (listener, management server, background work) and
    /// handles on the ports its two listeners bind.
    public struct Started: Sendable {
        public var services: [any Service]
        public var port: PortHandle
        public var managementPort: PortHandle

        public init(services: [any Service], port: PortHandle, managementPort: PortHandle) {
            self.services = services
            self.port = port
            self.managementPort = managementPort
        }
    }

    /// Runs the service named `name`; `build` returns what to run and the handles on its ports. Once both listeners
    /// are bound, one log line says which ports they hold (`SERVER_PORT=0` / `MANAGEMENT_SERVER_PORT=0` pick free
    /// ones), and when `SERVER_PORTS_REPORT` is set the same goes into that file (see ``BoundPortsFile``).
    ///
    /// `tracing` starts trace export when ``TraceExportSettings`` finds an endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`):
    /// the executables pass `TraceExport.bootstrap`, so that only they link the exporter. Its service runs first in
    /// the group, so it stops last and sends the spans of the final requests.
    public static func run(name: String, tracing: TraceExportBootstrap? = nil, build: @Sendable (Environment) async throws -> Started) async -> Never {
        limitMallocArenas()
        trimHeapPeriodically()
        let reader: EnvironmentReader
        let logSettings: LogSettings
        let traceSettings: TraceExportSettings?
        do {
            reader = try EnvironmentReader.readingFiles(ProcessInfo.processInfo.environment, prefixes: settingPrefixes)
            logSettings = try LogSettings(environment: reader)
            traceSettings = tracing == nil ? nil : try TraceExportSettings(environment: reader)
        } catch {
            fail(name: name, error)
        }
        logSettings.bootstrap(metadataProvider: traceSettings == nil ? nil : ServiceTracing.logMetadataProvider)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(CertAuthMetricsFactory(registry: registry))
        let logger = Logger(label: name)
        do {
            var exporter: (any Service)?
            if let tracing, let traceSettings {
                exporter = try tracing(name, traceSettings, logger)
            }
            var started = try await build(Environment(reader: reader, logger: logger, metrics: registry))
            if let exporter { started.services.insert(exporter, at: 0) }
            let portsFile = reader.string(BoundPortsFile.variable)
            let reporter = Task {
                let server = await started.port.port(), management = await started.managementPort.port()
                logger.info("\(name) bound its ports", metadata: [
                    LogKey.serverPort: .stringConvertible(server), LogKey.managementPort: .stringConvertible(management),
                ])
                guard let portsFile else { return }
                do {
                    try BoundPortsFile.write(server: server, management: management, to: portsFile)
                } catch {
                    logger.error("cannot write \(BoundPortsFile.variable)", error: error, metadata: [LogKey.filePath: .string(portsFile)])
                }
            }
            defer { reporter.cancel() }
            let group = ServiceGroup(
                configuration: .init(
                    services: started.services.map { .init(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await group.run()
            logger.info("Stopped")
            exit(0)
        } catch {
            fail(name: name, error)
        }
    }

    /// glibc gives each thread that allocates concurrently its own malloc arena, up to 8 per core, and memory freed in
    /// one arena is not reused by another: with NIO's event loops and Swift's cooperative pool allocating side by side,
    /// resident memory grew with the arena count rather than with what the service holds (`make bench`: authn and roles
    /// over 64 MB). Two arenas is what a two-core service needs. An operator's own `MALLOC_ARENA_MAX` wins.
    static func limitMallocArenas() {
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil else { return }
        _ = certauth_limit_malloc_arenas(2)
    }

    /// How often freed heap memory is handed back to the system.
    static let heapTrimInterval: Duration = .seconds(30)

    /// glibc returns freed memory to the system only from the top of the main heap; what a burst frees elsewhere
    /// (64 TLS handshakes at once: their buffers) stays resident, so a service's RSS kept its peak for good. Every
    /// `heapTrimInterval` `malloc_trim(0)` gives the free pages back (it holds an arena's lock for about a millisecond
    /// while it walks the free chunks). Runs for the life of the process.
    static func trimHeapPeriodically() {
        Task.detached(priority: .background) {
            while true {
                do {
                    try await Task.sleep(for: heapTrimInterval)
                } catch {
                    return
                }
                _ = certauth_trim_heap()
            }
        }
    }

    /// Prints the one line that says what is wrong and how to fix it, then exits 1.
    static func fail(name: String, _ error: any Error) -> Never {
        FileHandle.standardError.write(Data((failureLine(name: name, error) + "\n").utf8))
        exit(1)
    }

    /// The one line a service prints when `error` stops its start (also used by `certauth check-config`).
    public static func failureLine(name: String, _ error: any Error) -> String {
        switch error {
        case let error as ConfigurationError: "\(name): configuration error: \(error.description)"
        case let error as KeystoreError: "\(name): \(error.message)"
        default: "\(name): failed to start: \(error)"
        }
    }
}

/// `SERVER_PORTS_REPORT`: where a service writes the ports it bound, once both listeners are up, as one JSON object
/// `{"port":8443,"management_port":9080}`. Written to a temporary file and renamed, so a reader never sees half of
/// it: a test (or a supervisor) that starts a service with `SERVER_PORT=0` waits for the file and knows the ports
/// this very process holds, instead of guessing a free port that another process may take first.
public enum BoundPortsFile {
    public static let variable = "SERVER_PORTS_REPORT"

    public static func write(server: Int, management: Int, to path: String) throws {
        let temporary = path + ".\(getpid()).tmp"
        let json = #"{"port":\#(server),"management_port":\#(management)}"# + "\n"
        try Data(json.utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(atPath: temporary)
            throw ConfigurationError(variable: variable, message: "cannot rename \(temporary) to \(path) (errno \(code)); expected a writable directory.")
        }
    }
}
