import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Fetches the CRLs a certificate's CRL distribution points name (``CRLDistributionPoints``) and keeps each until its
/// `nextUpdate`, refreshing it ahead of that (``refreshDue(now:)``, called by a background service).
///
/// - Only `http` URIs (RFC 5280 § 4.2.1.13: a CRL is signed, and https would make CRL checking depend on itself);
///   `GET`, the client's redirects off (a 3xx answer is an error), at most ``maximumBytes`` of body (1 MiB by
///   default) and ``timeout`` for the whole exchange including the body.
/// - A CRL that no longer fetches is used until its `nextUpdate`; after that the certificates it covers have an
///   unknown status and the failure policy decides. A failed fetch is not retried for ``retryGap`` (many requests for
///   certificates of a dead distribution point do not each wait for it).
/// - At most ``capacity`` distribution points are held (URIs come from certificates of validated chains only).
/// - A fetched CRL whose content changed calls ``onChange`` (authn forgets its cached verdicts then, as for files).
///
/// A `Mutex`, not an actor: validations read the held CRLs once per certificate on a cache miss.
public final class CRLFetcher: Sendable {
    public struct SourceStatus: Sendable {
        public var uri: String
        /// The CRLs of the last good fetch.
        public var lists: [RevocationList] = []
        public var lastSuccess: Date?
        public var lastError: String?
        public var lastErrorAt: Date?
        /// Failed fetches since start (metrics).
        public var failures: Int = 0
        /// Fetches since start, failed or not.
        public var fetches: Int = 0
        /// When the last fetch began.
        public var lastAttempt: Date?
        /// When the next fetch is due (ahead of the CRL's nextUpdate, or ``maximumAge`` after the last one).
        public var refreshAt: Date
        var digest: [UInt8] = []
    }

    public let timeout: Duration
    public let maximumBytes: Int
    /// The longest a fetched CRL is used without asking the distribution point again.
    public let maximumAge: TimeInterval
    public let retryGap: TimeInterval
    public let capacity: Int
    /// Named in messages (authn: the revocation variable; the CLI: `--crl-fetch`).
    public let setting: String
    private let http: HTTPClient
    private let sources = Mutex<[String: SourceStatus]>([:])
    /// The fetch of a URI under way: requests that need the same CRL meanwhile wait for it instead of fetching again.
    private let inFlight = Mutex<[String: Task<SourceStatus?, Never>]>([:])
    private let onChangeHandler = Mutex<(@Sendable () -> Void)?>(nil)

    public static let defaultMaximumBytes = 1024 * 1024

    public init(
        http: HTTPClient, timeout: Duration = .seconds(5), maximumBytes: Int = CRLFetcher.defaultMaximumBytes,
        maximumAge: TimeInterval = 3600, retryGap: TimeInterval = 5, capacity: Int = 64,
        setting: String = "the CRL distribution points"
    ) {
        self.http = http
        self.timeout = timeout
        self.maximumBytes = maximumBytes
        self.maximumAge = maximumAge
        self.retryGap = min(retryGap, maximumAge)
        self.capacity = capacity
        self.setting = setting
    }

    /// Called (off the request path's lock) whenever a fetched CRL's content changed.
    public func onChange(_ handler: @escaping @Sendable () -> Void) {
        onChangeHandler.withLock { $0 = handler }
    }

    /// Each distribution point asked so far, by URI.
    public var status: [String: SourceStatus] {
        sources.withLock { $0 }
    }

    /// The CRLs held for `uris`, fetching first those not held yet or past their nextUpdate (unless a fetch of that
    /// URI failed within ``retryGap``). `errors`: why a URI has no usable CRL (its last fetch error), by URI.
    public func lists(for uris: [String], now: Date = Date()) async -> (lists: [RevocationList], errors: [String: String], refreshAt: Date?) {
        var lists: [RevocationList] = []
        var errors: [String: String] = [:]
        var refreshAt: Date?
        for uri in uris {
            let held = sources.withLock { $0[uri] }
            let usable = held.map { status in
                !status.lists.isEmpty && status.lists.allSatisfy { ($0.nextUpdate ?? .distantFuture) > now }
            } ?? false
            var current = held
            if !usable {
                // Not again within retryGap of the last attempt: a dead distribution point, or one serving a stale
                // CRL, is not asked once per request.
                let recentlyTried = held.flatMap { $0.lastAttempt }.map { abs(now.timeIntervalSince($0)) < retryGap } ?? false
                if !recentlyTried {
                    current = await sharedFetch(uri, now: now)
                }
            }
            guard let current else {
                errors[uri] = "the CRLs of \(capacity) distribution points are held already, so \(uri) is not fetched"
                continue
            }
            if current.lists.isEmpty, let error = current.lastError {
                errors[uri] = error
            } else if let error = current.lastError, current.lists.contains(where: { ($0.nextUpdate ?? .distantFuture) <= now }) {
                errors[uri] = error
            }
            lists += current.lists
            refreshAt = min(refreshAt ?? current.refreshAt, current.refreshAt)
        }
        return (lists, errors, refreshAt)
    }

    /// Fetches every held distribution point whose refresh is due; returns true when a CRL changed.
    @discardableResult
    public func refreshDue(now: Date = Date()) async -> Bool {
        let due = sources.withLock { $0.values.filter { $0.refreshAt <= now }.map(\.uri) }
        var changed = false
        for uri in due {
            let before = sources.withLock { $0[uri]?.digest }
            let after = await sharedFetch(uri, now: now)
            if let after, after.digest != before, !after.digest.isEmpty { changed = true }
        }
        return changed
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// ``fetch(_:now:)``, or the one under way for `uri`.
    func sharedFetch(_ uri: String, now: Date) async -> SourceStatus? {
        let task = inFlight.withLock { tasks -> Task<SourceStatus?, Never> in
            if let running = tasks[uri] { return running }
            let task = Task { await self.fetch(uri, now: now) }
            tasks[uri] = task
            return task
        }
        let status = await task.value
        inFlight.withLock { tasks in
            if tasks[uri] == task { tasks[uri] = nil }
        }
        return status
    }

    /// One fetch of `uri`; records the outcome and returns the source's status after it (nil when the URI is refused
    /// because ``capacity`` distribution points are held already).
    @discardableResult
    func fetch(_ uri: String, now: Date) async -> SourceStatus? {
        let admitted = sources.withLock { sources -> Bool in
            if sources[uri] != nil { return true }
            guard sources.count < capacity else { return false }
            sources[uri] = SourceStatus(uri: uri, refreshAt: now)
            return true
        }
        guard admitted else { return nil }
        sources.withLock { sources in
            sources[uri]?.fetches += 1
            sources[uri]?.lastAttempt = now
        }
        do {
            let bytes = try await download(uri)
            let lists: [RevocationList]
            do {
                lists = try RevocationList.parse(bytes)
            } catch {
                throw Failure(description: "the CRL distribution point \(uri) sent no readable CRL (\(error)); it must serve a DER (or PEM) CRL as openssl ca -gencrl makes")
            }
            guard !lists.isEmpty else { throw Failure(description: "the CRL distribution point \(uri) sent no CRL") }
            let digest = Array(SHA256.hash(data: bytes))
            var changed = false
            let status = sources.withLock { sources -> SourceStatus in
                var status = sources[uri] ?? SourceStatus(uri: uri, refreshAt: now)
                changed = status.digest != digest
                status.lists = lists
                status.digest = digest
                status.lastSuccess = now
                status.lastError = nil
                status.lastErrorAt = nil
                status.refreshAt = Self.refreshTime(lists: lists, now: now, maximumAge: maximumAge, minimumGap: retryGap)
                sources[uri] = status
                return status
            }
            if changed, let handler = onChangeHandler.withLock({ $0 }) { handler() }
            return status
        } catch {
            return sources.withLock { sources -> SourceStatus in
                var status = sources[uri] ?? SourceStatus(uri: uri, refreshAt: now)
                status.lastError = "\(error)"
                status.lastErrorAt = now
                status.failures += 1
                status.refreshAt = now.addingTimeInterval(retryGap)
                sources[uri] = status
                return status
            }
        }
    }

    /// Ahead of the earliest nextUpdate by a tenth of the CRL's validity (at most five minutes), never later than
    /// `maximumAge` from now, never sooner than `minimumGap` from now (a CA that publishes stale CRLs is not asked
    /// every second).
    static func refreshTime(lists: [RevocationList], now: Date, maximumAge: TimeInterval, minimumGap: TimeInterval) -> Date {
        var at = now.addingTimeInterval(maximumAge)
        for list in lists {
            guard let next = list.nextUpdate else { continue }
            let ahead = min(300, max(0, next.timeIntervalSince(list.thisUpdate)) / 10)
            at = min(at, next.addingTimeInterval(-ahead))
        }
        return max(at, now.addingTimeInterval(minimumGap))
    }

    private func download(_ uri: String) async throws -> [UInt8] {
        guard let url = URL(string: uri), url.scheme?.lowercased() == "http", url.host != nil else {
            throw Failure(description: "the CRL distribution point '\(uri.prefix(200))' is not an http URL (only http distribution points are fetched)")
        }
        let http = self.http
        let maximumBytes = self.maximumBytes
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                var request = HTTPClientRequest(url: uri)
                request.method = .GET
                request.headers.add(name: "Accept", value: "application/pkix-crl")
                let response: HTTPClientResponse
                do {
                    response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
                } catch {
                    throw Failure(description: "the CRL distribution point \(uri) could not be fetched: \(error)")
                }
                // The client should have redirects off (authn's and the CLI's have); if it followed one, refuse anyway.
                if response.history.count > 1 {
                    throw Failure(description: "the CRL distribution point \(uri) redirected to \(response.url?.absoluteString.prefix(200) ?? "another URL") (redirects are not followed)")
                }
                guard response.status == .ok else {
                    let redirect = (300..<400).contains(Int(response.status.code)) ? " (redirects are not followed)" : ""
                    throw Failure(description: "the CRL distribution point \(uri) answered HTTP \(response.status.code)\(redirect)")
                }
                if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maximumBytes {
                    throw Failure(description: "the CRL distribution point \(uri) sends \(length) bytes, more than the \(maximumBytes) allowed")
                }
                do {
                    let body = try await response.body.collect(upTo: maximumBytes)
                    return Array(body.readableBytesView)
                } catch {
                    throw Failure(description: "the CRL distribution point \(uri) sent more than \(maximumBytes) bytes or broke off: \(error)")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let bytes = first else {
                throw Failure(description: "the CRL distribution point \(uri) did not answer within \(timeout)")
            }
            return bytes
        }
    }
}
