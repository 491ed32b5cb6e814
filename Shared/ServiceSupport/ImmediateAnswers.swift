import Dispatch
import HTTPServing
import HTTPTypes
import Metrics
import NIOCore
import Synchronization
import Tracing

/// The lean path (issue 16): a service's answer that is ready without waiting (a verdict or a token from a cache, a
/// lookup in memory) is made synchronously on the connection's event loop, with no `Task` and no router. Anything
/// else returns nil and goes through the router in a task as before; so an immediate responder only ever answers what
/// its route would have answered, from state that route left behind (see ``AnswerCache``).
///
/// Called on an event loop: it must not block, lock for long, or do work proportional to untrusted input beyond
/// reading the request once.
public protocol ImmediateResponder: Sendable {
    func immediateAnswer(to request: ImmediateRequest) -> ImmediateAnswer?
}

/// What an immediate responder sees of a request: the method, the target, the header fields as bytes, the body, and
/// the connection's client certificate (read once per connection).
public struct ImmediateRequest {
    public let served: HTTP2ServedRequest
    public let peer: PeerCertificate?

    public init(served: HTTP2ServedRequest, peer: PeerCertificate?) {
        self.served = served
        self.peer = peer
    }

    public var method: HTTPRequest.Method { served.method }
    public var path: Substring { served.pathWithoutQuery }
    public var headers: HTTP2RequestHeaders { served.headers }
    public var body: ByteBuffer { served.body }
}

/// An answer made on the lean path, with the metrics of its route (made once, so recording takes no lookup).
public struct ImmediateAnswer: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: ByteBuffer
    public var metrics: RouteMetrics

    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields, body: ByteBuffer, metrics: RouteMetrics) {
        self.status = status
        self.headers = headers
        self.body = body
        self.metrics = metrics
    }
}

/// The request metrics of one route, method and status, under the labels Hummingbird's `MetricsMiddleware` uses for the
/// router's answers (so `/metrics` counts a route the same whichever path answered): made once per route.
public final class RouteMetrics: Sendable {
    let route: String
    let counter: Counter
    let timer: Metrics.Timer

    public init(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status = .ok) {
        self.route = route
        let dimensions = [
            ("http.route", route), ("http.request.method", method.rawValue), ("http.response.status_code", String(status.code)),
        ]
        counter = Counter(label: "hb.requests", dimensions: dimensions)
        timer = Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }

    func record(since start: UInt64) {
        counter.increment()
        timer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- start))
    }
}

extension HTTP2Serving {
    /// The lean answer to `request` if the listener's responder has one: with the request's `traceparent` continued
    /// (or a new trace), `Content-Length`, and the route's metrics recorded.
    func immediateAnswer(to request: HTTP2ServedRequest, peer: PeerCertificate?) -> HTTP2ServedAnswer? {
        guard let immediate else { return nil }
        let start = DispatchTime.now().uptimeNanoseconds
        let spanStart = ServiceTracing.isEnabled ? DefaultTracerClock.now : nil
        guard let answer = immediate.immediateAnswer(to: ImmediateRequest(served: request, peer: peer)) else { return nil }
        let incoming = request.headers.string("traceparent").flatMap(TraceContext.init(traceparent:))
        let traceparent: String
        if let spanStart {  // trace export on: the answer's server span, made only now that there is an answer
            let server = ServerSpan(method: request.method.rawValue, path: String(request.pathWithoutQuery), incoming: incoming, at: spanStart)
            server.end(status: Int(answer.status.code), route: answer.metrics.route)
            traceparent = server.trace.traceparent
        } else if let incoming {
            traceparent = incoming.child().traceparent
        } else {
            traceparent = TraceContext.randomTraceparent()
        }
        var headers = answer.headers
        headers[.traceparent] = traceparent
        if request.method != .head, answer.status != .noContent {
            headers[.contentLength] = String(answer.body.readableBytes)
        }
        answer.metrics.record(since: start)
        return HTTP2ServedAnswer(head: HTTPResponse(status: answer.status, headerFields: headers), body: answer.body)
    }
}

/// Answers a route made, kept for the lean path to repeat while they stay true: each entry until a time the route
/// sets (the token's expiry, the next refresh, the roles cache's TTL, the revocation data's freshness), at most
/// `capacity` entries, and all forgotten at once when what they were made from changes (``removeAll()``).
///
/// A `Mutex`, not an actor: the lean path runs synchronously on an event loop and cannot await; nothing else happens
/// while the lock is held (a dictionary probe or insert).
///
/// `lookup` and `store` are `@inlinable`, so a service's lean path gets them specialised for its answer type: called
/// across the module boundary unspecialised, every lookup instantiated generic metadata at run time (`getCache`,
/// `_swift_getGenericMetadata`: 2.5 % of a kept-alive mTLS request, perf).
public final class AnswerCache<Value: Sendable>: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var value: Value
        @usableFromInline var until: ContinuousClock.Instant

        @inlinable
        init(value: Value, until: ContinuousClock.Instant) {
            self.value = value
            self.until = until
        }
    }

    @usableFromInline let entries = Mutex<[AnswerKey: Entry]>([:])
    @usableFromInline let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    @inlinable
    public func lookup(_ key: AnswerKey, now: ContinuousClock.Instant = .now) -> Value? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.until > now else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    @inlinable
    public func store(_ key: AnswerKey, _ value: Value, until: ContinuousClock.Instant, now: ContinuousClock.Instant = .now) {
        guard until > now else { return }
        let capacity = self.capacity
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.until > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(value: value, until: until)
        }
    }

    public func removeAll() {
        entries.withLock { $0.removeAll() }
    }

    public var count: Int { entries.withLock { $0.count } }
}

/// The key of an ``AnswerCache`` entry: the bytes that decided the answer (route, credential, the request fields the
/// answer depends on), hashed as one block.
public struct AnswerKey: Hashable, Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends a part with its length first, so that two different splits of the same bytes never make the same key.
    /// Inlinable, over one non-generic copy (``append(raw:)``): unspecialised across modules, the generic
    /// `append(contentsOf:)` instantiated metadata at run time on every lean request (perf).
    @inlinable
    public mutating func append<Bytes: Collection>(_ part: Bytes) where Bytes.Element == UInt8 {
        if let done: Void = part.withContiguousStorageIfAvailable({ append(raw: UnsafeRawBufferPointer($0)) }) {
            return done
        }
        Array(part).withUnsafeBytes { append(raw: $0) }
    }

    /// ``append(_:)`` for bytes in memory.
    public mutating func append(raw part: UnsafeRawBufferPointer) {
        var length = UInt32(truncatingIfNeeded: part.count)
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: part)
    }

    public mutating func append(_ part: String) {
        append(part.utf8)
    }

    public mutating func append(absent marker: UInt8) {
        var length = UInt32.max
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(marker)
    }

    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public static func == (lhs: AnswerKey, rhs: AnswerKey) -> Bool {
        lhs.bytes == rhs.bytes
    }
}
