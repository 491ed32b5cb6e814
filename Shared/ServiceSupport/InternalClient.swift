import AsyncHTTPClient
import AuthProtocol
import Foundation
import HTTPTypes
import Keystore
import NIOCore
import NIOHTTP1
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
/// peer checked against the internal CA, h2 through ALPN, W3C trace context on every call.
public struct InternalClient: Sendable {
    public let service: String
    public let baseURL: URL
    public let http: HTTPClient
    public let timeout: Duration

    public init(service: String, baseURL: URL, http: HTTPClient, timeout: Duration = .seconds(5)) {
        self.service = service
        self.baseURL = baseURL
        self.http = http
        self.timeout = timeout
    }

    /// An `HTTPClient` presenting `credential` and trusting only `trustRoots` (the internal CA).
    public static func makeHTTPClient(credential: Credential, trustRoots: [Certificate], timeout: Duration = .seconds(5)) throws -> HTTPClient {
        let tls = try ServerTLS.clientConfiguration(credential: credential, trustRoots: trustRoots, includeSystemRoots: false)
        return HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                tlsConfiguration: tls, redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(timeout.components.seconds), read: .seconds(timeout.components.seconds))))
    }

    /// POSTs `body` as JSON to `path` and decodes the answer as `Response`.
    public func post<Body: Encodable, Answer: Decodable>(
        _ path: String, _ body: Body, as: Answer.Type, trace: TraceContext?
    ) async throws(InternalCallError) -> Answer {
        let encoded: Data
        do {
            encoded = try JSONEncoder().encode(body)
        } catch {
            throw InternalCallError(service: service, message: "could not encode the request to \(service): \(error)")
        }
        let (status, _, bytes) = try await send(method: .POST, path: path, headers: ["content-type": "application/json"],
                                                body: ByteBuffer(bytes: encoded), trace: trace)
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

    /// Sends a request and collects the answer (at most 1 MiB).
    public func send(
        method: HTTPMethod, path: String, headers: HTTPHeaders, body: ByteBuffer?, trace: TraceContext?
    ) async throws(InternalCallError) -> (status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        let url = baseURL.absoluteString.trimmingSuffix("/") + path
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        if let trace { request.headers.replaceOrAdd(name: ProtocolHeader.traceparent, value: trace.child().traceparent) }
        if let body { request.body = .bytes(body) }
        do {
            let response = try await http.execute(request, timeout: .seconds(timeout.components.seconds))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), response.headers, bytes)
        } catch {
            throw InternalCallError(
                service: service,
                message: "\(service) is unreachable at \(baseURL.absoluteString) (\(Self.describe(error))); check that it runs and that its certificate is from the internal CA")
        }
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
