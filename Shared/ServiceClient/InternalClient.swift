import AsyncHTTPClient
import AuthProtocol
import Foundation
import HTTPTypes
import Keystore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceSupport
import Tracing
import X509

/// Why a call to another service of the suite failed. Never carries a token or key.
public struct InternalCallError: Error, CustomStringConvertible, Sendable {
    /// The service called, e.g. `roles`.
    public var service: String
    /// The HTTP status, when the service answered.
    public var status: Int?
    /// The service's OAuth-style error body, when it sent one.
    public var body: OAuthErrorResponse?
    public var message: String

    public var description: String { message }
}

/// A client for the suite's internal HTTP/2 JSON protocol: mutual TLS with this service's own certificate, the
/// peer checked against the internal CA, h2 through ALPN, W3C trace context on every call. Requests are spread over
/// every address the service's name resolves to (see `PeerPool`); a call that fails at the transport level moves to
/// the next replica when that is safe (the request is idempotent, or it never reached the replica).
public struct InternalClient: Sendable {
    public let service: String
    public let baseURL: URL
    public let peers: PeerPool
    public let timeout: Duration

    public init(service: String, peers: PeerPool, timeout: Duration = .seconds(5)) {
        self.service = service
        self.baseURL = peers.baseURL
        self.peers = peers
        self.timeout = timeout
    }

    /// A client of `service` at `baseURL`, presenting `credential` and trusting only `trustRoots` (the internal CA).
    /// Run `PeerPoolService(pool: client.peers)` in the service group so its connections close at shutdown.
    public static func make(
        service: String, baseURL: URL, credential: Credential, trustRoots: [Certificate], timeout: Duration = .seconds(5),
        resolveInterval: Duration = .seconds(5), resolver: @escaping @Sendable (String) throws -> [String] = PeerPool.resolve,
        logger: Logger
    ) throws -> InternalClient {
        let peers = try PeerPool(
            service: service, baseURL: baseURL, configuration: httpConfiguration(credential: credential, trustRoots: trustRoots, timeout: timeout),
            resolveInterval: resolveInterval, resolver: resolver, logger: logger)
        return InternalClient(service: service, peers: peers, timeout: timeout)
    }

    /// The TLS and timeout settings of a client presenting `credential` and trusting only `trustRoots`.
    public static func httpConfiguration(credential: Credential, trustRoots: [Certificate], timeout: Duration) throws -> HTTPClient.Configuration {
        let tls = try ServerTLS.clientConfiguration(credential: credential, trustRoots: trustRoots, includeSystemRoots: false)
        let seconds = Int64(max(1, timeout.components.seconds))
        return HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(seconds), read: .seconds(seconds)))
    }

    /// POSTs `body` as JSON to `path` and decodes the answer as `Response`. `idempotent: true` lets a call that
    /// failed at the transport level be sent again to another replica.
    public func post<Body: Encodable, Answer: Decodable>(
        _ path: String, _ body: Body, as: Answer.Type, trace: TraceContext?, idempotent: Bool = false
    ) async throws(InternalCallError) -> Answer {
        let encoded: Data
        do {
            encoded = try JSONEncoder().encode(body)
        } catch {
            throw InternalCallError(service: service, message: "could not encode the request to \(service): \(error)")
        }
        let (status, _, bytes) = try await send(method: .POST, path: path, headers: ["content-type": "application/json"],
                                                body: ByteBuffer(bytes: encoded), trace: trace, idempotent: idempotent)
        guard (200..<300).contains(status) else {
            let oauth = try? JSONDecoder().decode(OAuthErrorResponse.self, from: Data(bytes.readableBytesView))
            let detail = oauth.map { "\($0.error): \($0.errorDescription)" }
                ?? (try? JSONDecoder().decode(ProblemDetails.self, from: Data(bytes.readableBytesView))).map(\.detail)
                ?? "no error body"
            throw InternalCallError(
                service: service, status: status, body: oauth,
                message: "\(service) answered \(status) at \(baseURL.absoluteString)\(path): \(detail)")
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(bytes.readableBytesView))
        } catch {
            throw InternalCallError(service: service, status: status, message: "\(service) answered \(path) with a body that is not the expected JSON")
        }
    }

    /// Sends a request to one replica after another until one answers (at most 1 MiB is read). A replica that fails
    /// at the transport level is reported to the pool; the request moves on only when `idempotent` (by default:
    /// every method but POST and PATCH) or when the failure happened before the request could leave.
    public func send(
        method: HTTPMethod, path: String, headers: HTTPHeaders, body: ByteBuffer?, trace: TraceContext?, idempotent: Bool? = nil
    ) async throws(InternalCallError) -> (status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        let url = baseURL.absoluteString.trimmingSuffix("/") + path
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        // With trace export on, the call is a client span (child of the task's current span or of `trace`), the
        // request is sent within it, and the called service's server span hangs under it (through AsyncHTTPClient's
        // own span of the request, whose traceparent it sends).
        let span = ServiceTracing.clientSpan("\(method.rawValue) \(service) \(path)", trace: trace)
        span?.attributes["http.request.method"] = method.rawValue
        span?.attributes["url.full"] = url
        span?.attributes["peer.service"] = service
        defer { span?.end() }
        if span == nil, let trace {  // with a span, AsyncHTTPClient sends its traceparent (ServiceTracing.within)
            request.headers.replaceOrAdd(name: ProtocolHeader.traceparent, value: trace.child().traceparent)
        }
        if let body { request.body = .bytes(body) }
        let retryable = idempotent ?? !(method == .POST || method == .PATCH)
        var failures: [String] = []
        for replica in try await peers.candidates() {
            do {
                let response = try await ServiceTracing.within(span) {
                    try await replica.client.execute(request, timeout: .seconds(timeout.components.seconds))
                }
                let bytes = try await response.body.collect(upTo: 1 << 20)
                if replica.failing { await peers.report(replica.address, reachable: true) }
                if let span {
                    span.attributes["http.response.status_code"] = Int(response.status.code)
                    span.attributes["server.address"] = replica.address
                    if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
                }
                return (Int(response.status.code), response.headers, bytes)
            } catch {
                await peers.report(replica.address, reachable: false)
                failures.append("\(replica.address): \(Self.describe(error))")
                guard retryable || Self.failedBeforeSending(error) else { break }
            }
        }
        span?.setStatus(SpanStatus(code: .error, message: "\(service) unreachable"))
        throw InternalCallError(
            service: service,
            message: "\(service) is unreachable at \(baseURL.absoluteString) (\(failures.joined(separator: "; "))); check that it runs and that its certificate is from the internal CA")
    }

    /// Whether a transport error happened before any byte of the request could reach the peer (so sending the
    /// request to another replica cannot run it twice).
    static func failedBeforeSending(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        if let error = error as? IOError {
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL].contains(error.errnoCode)
        }
        return false
    }

    /// A short description of a transport error for messages.
    public static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
