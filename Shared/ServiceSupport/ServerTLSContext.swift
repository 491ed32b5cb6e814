import AuthProtocol
import Crypto
import Foundation
import Keystore
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import Synchronization
import WireFormat
import X509

/// A listener's TLS material, reloaded without restart (issue 16 item 5): its files (keystore, trust store, a
/// service's client-certificate trust files) are compared by content every `SERVER_SSL_RELOAD_INTERVAL`; when they
/// changed, the TLS configuration is built anew and new connections use it, while open connections keep the context
/// they were accepted with and drain as usual. A new file that does not load (half written, wrong password, key and
/// certificate that do not match) keeps the previous material serving: the log and health component `tls` say why,
/// and the next poll tries again. Content, not modification times: Kubernetes swaps a mounted Secret through a
/// `..data` symlink, which leaves the files' own times alone.
///
/// A `Mutex`: read once per accepted connection, replaced on a reload; nothing else happens under the lock.
public final class ServerTLSContext: Sendable {
    private struct Loaded: Sendable {
        var context: NIOSSLContext
        var digest: [UInt8]
        var details: [String: String]
    }

    private let state: Mutex<Loaded>
    private let files: [String]
    private let make: @Sendable () throws -> TLSConfiguration
    private let health: HealthRegistry
    private let logger: Logger
    /// The health component (`tls`).
    public let component = "tls"

    /// Loads the material once; throws (the service does not start) when it does not load.
    public init(
        listener: String, files: [String], health: HealthRegistry, logger: Logger,
        make: @escaping @Sendable () throws -> TLSConfiguration
    ) throws {
        self.files = files
        self.make = make
        self.health = health
        self.logger = logger
        let loaded = try Self.load(files: files, make: make)
        state = Mutex(loaded)
        health.up(component, details: loaded.details.merging(["listener": listener]) { $1 })
    }

    /// A context that never reloads (tests, and listeners built from a configuration alone).
    public init(fixed configuration: TLSConfiguration, health: HealthRegistry = HealthRegistry(), logger: Logger = Logger(label: "tls")) throws {
        self.files = []
        self.make = { configuration }
        self.health = health
        self.logger = logger
        state = Mutex(try Self.load(files: [], make: { configuration }))
    }

    /// The context new connections get.
    public var current: NIOSSLContext {
        state.withLock { $0.context }
    }

    /// What health shows: the served certificate's `x5t#S256` and `not_after`.
    public var details: [String: String] {
        state.withLock { $0.details }
    }

    /// Compares the files with the loaded ones and, when they changed, loads them. Returns whether new material is
    /// now served. Blocking file reads: call it from a task, never from an event loop.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let digest = Self.digest(files)
        guard digest != state.withLock({ $0.digest }) else { return false }
        do {
            let loaded = try Self.load(files: files, make: make)
            let previous = state.withLock { state -> [String: String] in
                let previous = state.details
                state = loaded
                return previous
            }
            health.up(component, details: loaded.details)
            logger.info("Listener TLS material reloaded; new connections use it", metadata: [
                LogKey.certificateX5tS256: .string(loaded.details["x5t_s256"] ?? "-"),
                LogKey.certificateNotAfter: .string(loaded.details["not_after"] ?? "-"),
                LogKey.previousX5tS256: .string(previous["x5t_s256"] ?? "-"),
            ])
            return true
        } catch {
            // Remembered as seen: the same broken content is reported once, not on every poll.
            let serving = state.withLock { state -> [String: String] in
                state.digest = digest
                return state.details
            }
            health.degraded(component, details: serving.merging([
                "reason": "the changed TLS files do not load: \(error); still serving the previous certificate",
            ]) { $1 })
            logger.error("Listener TLS files changed but do not load; the previous certificate keeps serving", error: error, metadata: [
                LogKey.tlsFiles: .string(files.joined(separator: ",")),
            ])
            return false
        }
    }

    private static func load(files: [String], make: () throws -> TLSConfiguration) throws -> Loaded {
        let digest = Self.digest(files)
        var configuration = try make()
        configuration.applicationProtocols = ["h2", "http/1.1"]
        // When the server closes a connection (after GOAWAY at shutdown, idle, drained), NIOSSL sends close_notify and
        // waits for the client's before closing TCP: 5 s by default, which many clients (AsyncHTTPClient, hyper-h2)
        // never send. Every such connection then held a graceful shutdown for 5 s. Nothing is in flight by then.
        configuration.shutdownTimeout = .milliseconds(300)
        let context = try NIOSSLContext(configuration: configuration)
        var details: [String: String] = [:]
        if case .certificate(let leaf)? = configuration.certificateChain.first, let der = try? leaf.toDERBytes() {
            details["x5t_s256"] = Base64URL.encode(Thumbprint.sha256(der: der))
            if let certificate = try? Certificate(derEncoded: der) {
                details["not_after"] = RFC3339.string(certificate.notValidAfter)
                details["subject"] = certificate.subject.description
            }
        }
        return Loaded(context: context, digest: digest, details: details)
    }

    /// SHA-256 over every file's content (a missing file counts as empty content of its own).
    static func digest(_ files: [String]) -> [UInt8] {
        var hash = SHA256()
        for file in files {
            hash.update(data: Data(file.utf8))
            if let data = FileManager.default.contents(atPath: file) {
                hash.update(data: Data([1]))
                hash.update(data: data)
            } else {
                hash.update(data: Data([0]))
            }
        }
        return Array(hash.finalize())
    }
}

/// Polls a ``ServerTLSContext`` (`SERVER_SSL_RELOAD_INTERVAL`) until shutdown.
public struct ServerTLSReloader: Service {
    let context: ServerTLSContext
    let interval: Duration

    public init(context: ServerTLSContext, interval: Duration) {
        self.context = context
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                let context = self.context
                // File reads off the cooperative pool's hot threads are fine here: a few small files per interval.
                context.reloadIfChanged()
            }
        }
    }
}
