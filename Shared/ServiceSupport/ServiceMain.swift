import Foundation
import CPlatform
import Keystore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// What a service's `main` runs: settings read, logging and metrics installed, the service built and run until
/// SIGTERM or SIGINT. A configuration or keystore problem prints one line and exits with status 1.
public enum ServiceMain {
    /// Everything a service needs from the process, handed to its builder.
    public struct Environment: Sendable {
        public var reader: EnvironmentReader
        public var logger: Logger
        public var metrics: PrometheusCollectorRegistry
    }

    /// Runs the service named `name`; `build` returns the services to run (listener, management server, background work).
    public static func run(name: String, build: @Sendable (Environment) async throws -> [any Service]) async -> Never {
        limitMallocArenas()
        trimHeapPeriodically()
        let reader: EnvironmentReader
        let logSettings: LogSettings
        do {
            reader = try EnvironmentReader.readingFiles(ProcessInfo.processInfo.environment)
            logSettings = try LogSettings(environment: reader)
        } catch {
            fail(name: name, error)
        }
        logSettings.bootstrap()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(CertAuthMetricsFactory(registry: registry))
        let logger = Logger(label: name)
        do {
            let services = try await build(Environment(reader: reader, logger: logger, metrics: registry))
            let group = ServiceGroup(
                configuration: .init(
                    services: services.map { .init(service: $0) },
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
