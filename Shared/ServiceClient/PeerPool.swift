import AuthProtocol
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The replicas behind one internal service name (`https://token-issuer:8444` with three token-issuer containers
/// behind the name, as Docker Compose's DNS or a Kubernetes headless service gives them).
///
/// async-http-client resolves a name once per connection and multiplexes every request over one HTTP/2 connection,
/// so on its own it would send all traffic to whichever replica it reached first. The pool instead resolves the
/// name itself (every `resolveInterval`, and at once after a failure), keeps one `HTTPClient` per address (with
/// `dnsOverride`, so TLS still sends and verifies the service *name*), hands the addresses out round robin, and
/// takes an address out of rotation for a while (1 s, doubling up to 30 s) when a call to it fails at the transport
/// level. Addresses that left DNS are shut down after a grace period longer than any request.
public actor PeerPool {
    /// One address of the service and the client that reaches it.
    public struct Replica: Sendable {
        public let address: String
        let client: HTTPClient
        /// Whether the last call to it failed (only then does a success need reporting).
        let failing: Bool
    }

    private struct Entry {
        let address: String
        let client: HTTPClient
        var failures = 0
        var downUntil: ContinuousClock.Instant?
    }

    public nonisolated let service: String
    public nonisolated let baseURL: URL
    private nonisolated let host: String
    private let configuration: HTTPClient.Configuration
    private let resolveInterval: Duration
    private let resolver: @Sendable (String) throws -> [String]
    private let logger: Logger
    private let clock = ContinuousClock()
    private var entries: [Entry] = []
    private var cursor = 0
    private var resolvedAt: ContinuousClock.Instant?
    private var resolving: Task<[String], any Error>?
    private var retiring: [UUID: Task<Void, Never>] = [:]
    private var shutDown = false

    /// - Parameters:
    ///   - configuration: the TLS and timeout settings every per-address client gets (its `dnsOverride` is set here).
    ///   - resolver: host name → numeric addresses; `getaddrinfo` unless a test supplies its own.
    public init(
        service: String, baseURL: URL, configuration: HTTPClient.Configuration, resolveInterval: Duration = .seconds(5),
        resolver: @escaping @Sendable (String) throws -> [String] = PeerPool.resolve, logger: Logger
    ) throws(InternalCallError) {
        guard let host = baseURL.host, !host.isEmpty else {
            throw InternalCallError(service: service, message: "the URL of \(service) (\(baseURL.absoluteString)) has no host name")
        }
        self.service = service
        self.baseURL = baseURL
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        var configuration = configuration
        // Fail a request at once when its replica can't be reached, so the pool can move to the next one (the
        // default keeps retrying the connection until the request's deadline).
        configuration.connectionPool.retryConnectionEstablishment = false
        self.configuration = configuration
        self.resolveInterval = resolveInterval
        self.resolver = resolver
        self.logger = logger
    }

    /// The replicas in the order to try them for one request: the healthy ones starting at the next in rotation,
    /// then those out of rotation (a last resort, soonest back first).
    public func candidates() async throws(InternalCallError) -> [Replica] {
        if shutDown { throw InternalCallError(service: service, message: "the client for \(service) is shut down") }
        let stale = resolvedAt.map { clock.now - $0 >= resolveInterval } ?? true
        if entries.isEmpty {
            try await refresh()
        } else if stale && resolving == nil {
            // Refresh in the background; this request uses the addresses known now.
            Task { try? await self.refresh() }
        }
        let now = clock.now
        let count = entries.count
        guard count > 0 else {
            throw InternalCallError(service: service, message: "\(host) resolves to no address; check the \(service) URL and that \(service) runs")
        }
        cursor = (cursor + 1) % count
        let rotated = (0..<count).map { entries[(cursor + $0) % count] }
        let healthy = rotated.filter { ($0.downUntil ?? now) <= now }
        let resting = rotated.filter { ($0.downUntil ?? now) > now }.sorted { ($0.downUntil ?? now) < ($1.downUntil ?? now) }
        return (healthy + resting).map { Replica(address: $0.address, client: $0.client, failing: $0.failures > 0) }
    }

    /// Records how a call to `address` went at the transport level (successes only matter after a failure).
    public func report(_ address: String, reachable: Bool) {
        guard let index = entries.firstIndex(where: { $0.address == address }) else { return }
        if reachable {
            if entries[index].failures > 0 {
                logger.info("replica of \(service) is answering again", metadata: [LogKey.peerService: .string(service), LogKey.serverAddress: .string(address)])
            }
            entries[index].failures = 0
            entries[index].downUntil = nil
            return
        }
        entries[index].failures += 1
        let failures = entries[index].failures
        let rest = Duration.milliseconds(min(30_000, 1_000 << min(failures - 1, 5)))
        entries[index].downUntil = clock.now + rest
        if failures == 1 {
            logger.warning("replica of \(service) does not answer; sending its requests to the others", metadata: [
                LogKey.peerService: .string(service), LogKey.serverAddress: .string(address),
                LogKey.peerRetryAfterMilliseconds: .stringConvertible(rest.components.seconds * 1000),
            ])
        }
        // The replica may have been replaced under the same name: look the name up again on the next request.
        resolvedAt = nil
    }

    /// The addresses in rotation now (for health details and tests).
    public func addresses() -> [String] { entries.map(\.address) }

    /// Looks the name up now (single flight) and adjusts the clients to the addresses found. When the lookup fails
    /// the known addresses stay.
    public func refresh() async throws(InternalCallError) {
        let task: Task<[String], any Error>
        if let resolving {
            task = resolving
        } else {
            let host = self.host, resolver = self.resolver
            task = Task { try await NIOThreadPool.singleton.runIfActive { try resolver(host) } }
            resolving = task
        }
        let found: [String]
        do {
            found = try await task.value
        } catch {
            resolving = nil
            if !entries.isEmpty {
                // Keep the known addresses and try the name again after the interval, not on every request.
                resolvedAt = clock.now
                logger.warning("cannot resolve \(host); keeping the \(entries.count) known address(es) of \(service)", metadata: [
                    LogKey.peerService: .string(service), LogKey.errorMessage: .string(InternalClient.describe(error)),
                ])
                return
            }
            throw InternalCallError(service: service, message: "cannot resolve \(host) (\(InternalClient.describe(error))); check the \(service) URL and DNS")
        }
        resolving = nil
        resolvedAt = clock.now
        apply(found)
    }

    private func apply(_ found: [String]) {
        guard !shutDown, !found.isEmpty else { return }
        let known = Set(entries.map(\.address))
        let wanted = Set(found)
        for address in found where !known.contains(address) {
            var configuration = self.configuration
            configuration.dnsOverride = [host: address]
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            entries.append(Entry(address: address, client: client))
            if !known.isEmpty {
                logger.info("new replica of \(service)", metadata: [LogKey.peerService: .string(service), LogKey.serverAddress: .string(address)])
            }
        }
        let leaving = entries.filter { !wanted.contains($0.address) }
        entries.removeAll { !wanted.contains($0.address) }
        for entry in leaving {
            logger.info("replica of \(service) left DNS", metadata: [LogKey.peerService: .string(service), LogKey.serverAddress: .string(entry.address)])
            // Requests already running on it finish first.
            let client = entry.client
            let grace = configuration.timeout.read.map { Duration.nanoseconds($0.nanoseconds) + .seconds(5) } ?? .seconds(60)
            let id = UUID()
            retiring[id] = Task {
                try? await Task.sleep(for: grace)
                try? await client.shutdown()
                self.retired(id)
            }
        }
    }

    private func retired(_ id: UUID) {
        retiring[id] = nil
    }

    /// Shuts every client down (when the service stops).
    public func shutdown() async {
        shutDown = true
        resolving?.cancel()
        let clients = entries.map(\.client)
        entries = []
        let tasks = Array(retiring.values)
        retiring = [:]
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        for client in clients { try? await client.shutdown() }
    }

    /// The numeric addresses `host` resolves to, in resolver order, without duplicates.
    public nonisolated static func resolve(_ host: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            throw ResolutionError(message: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var next = list
        while let info = next?.pointee {
            var buffer = [CChar](repeating: 0, count: 64)
            if getnameinfo(info.ai_addr, info.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(address) { addresses.append(address) }
            }
            next = info.ai_next
        }
        return addresses
    }

    struct ResolutionError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

/// Shuts the pool's clients down when the service group stops (after the services that use it).
public struct PeerPoolService: Service {
    public let pool: PeerPool

    public init(pool: PeerPool) {
        self.pool = pool
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await pool.shutdown()
    }
}
