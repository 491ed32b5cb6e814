import AuthProtocol
import Crypto
import HTTPTypes
import Hummingbird
import Keystore
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import Tracing
import X509

/// The request context of every CertAuth service: Hummingbird's core storage plus the connection channel
/// (for the client certificate) and the request's trace context.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection channel the request arrived on (HTTP/1.1 and HTTP/2 alike: libnghttp2 has no per-stream
    /// channels).
    public let channel: any Channel
    /// Set by ``TracingMiddleware``.
    public var trace: TraceContext
    /// The client certificate of the connection, when the server has read it already (``HTTP2Serving`` does,
    /// once per connection); `.some(nil)`: the connection has none.
    var connectionPeerCertificate: PeerCertificate??

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.trace = TraceContext.random()
    }

    /// Small JSON bodies only on this protocol.
    public var maxUploadSize: Int { Self.maximumBodySize }
    static let maximumBodySize = 64 * 1024

    /// The client certificate the TLS handshake verified, if any.
    public func peerCertificate() async -> Certificate? {
        await verifiedPeer()?.certificate
    }

    /// The client certificate the TLS handshake verified, with its SHA-256 thumbprint (computed once per certificate).
    public func verifiedPeer() async -> PeerCertificate? {
        if let known = connectionPeerCertificate { return known }
        // The parent first: under Hummingbird's HTTP/2 server (the emulator) the stream channel has no TLS handler, and
        // asking it costs a failed round trip to the event loop on every request.
        for candidate in [channel.parent, channel].compactMap({ $0 }) {
            let presented: NIOSSLCertificate?
            do {
                presented = try await candidate.nioSSL_peerCertificate().get()
            } catch {
                continue  // no TLS handler on this channel: try the parent
            }
            guard let certificate = presented else { return nil }
            guard let der = try? certificate.toDERBytes() else { return nil }
            return PeerCertificateCache.shared.peer(der: der)
        }
        return nil
    }

    /// The calling service's name: the SPIFFE ID `spiffe://<trustDomain>/<service>` of its verified certificate
    /// (``ServiceIdentity``); nil for a connection without a certificate or with an end-user certificate.
    public func callerIdentity(trustDomain: String) async -> String? {
        await verifiedPeer()?.serviceName(trustDomain: trustDomain)
    }
}

/// Reads or starts the W3C trace of each request, answers with `traceparent`, and puts `trace_id`
/// into every log line of the request.
public struct TracingMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext

    public init() {}

    public func handle(
        _ request: Request, context: ServiceRequestContext,
        next: (Request, ServiceRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let incoming = request.headers[.traceparent].flatMap(TraceContext.init(traceparent:))
        if ServiceTracing.isEnabled { return try await handleInSpan(request, context: context, incoming: incoming, next: next) }
        if let incoming { context.trace = incoming.child() }  // else the new trace the context started with
        context.logger[metadataKey: LogKey.traceID] = .string(context.trace.traceID)
        context.logger[metadataKey: LogKey.spanID] = .string(context.trace.spanID)
        var response = try await next(request, context)
        response.headers[.traceparent] = context.trace.traceparent
        return response
    }

    /// With trace export on: the request in a server span (child of `incoming`), whose ids become the request's trace,
    /// its log lines' `trace_id` and the answer's `traceparent`; the span is the current one for the handler's own.
    private func handleInSpan(
        _ request: Request, context: ServiceRequestContext, incoming: TraceContext?,
        next: (Request, ServiceRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let server = ServerSpan(method: request.method.rawValue, path: request.uri.path, incoming: incoming)
        context.trace = server.trace
        context.logger[metadataKey: LogKey.traceID] = .string(context.trace.traceID)
        context.logger[metadataKey: LogKey.spanID] = .string(context.trace.spanID)
        do {
            var response = try await InstrumentationContext.$current.withValue(server.span.context) { [context] in
                try await next(request, context)
            }
            response.headers[.traceparent] = context.trace.traceparent
            server.end(status: Int(response.status.code), route: context.endpointPath)
            return response
        } catch {
            ServiceTracing.recordFailure(error, on: server.span)
            server.end(status: Int((error as? any HTTPResponseError)?.status.code ?? 500), route: context.endpointPath)
            throw error
        }
    }
}

extension HTTPField.Name {
    /// W3C Trace Context header.
    public static let traceparent = Self(ProtocolHeader.traceparent)!
    /// Caller's principal, passed on by authn.
    public static let authPrincipal = Self(ProtocolHeader.authPrincipal)!
    /// Caller's roles (comma list), passed on by authn.
    public static let authRoles = Self(ProtocolHeader.authRoles)!
    /// How the caller authenticated.
    public static let authMethod = Self(ProtocolHeader.authMethod)!
    /// Entra's request correlation header.
    public static let clientRequestID = Self("client-request-id")!
}

/// A client certificate as the TLS handshake presented it: parsed, with the SHA-256 of its DER (a stable key for
/// per-certificate caches, so they need not re-serialise the certificate on every request).
/// A class: request contexts are copied several times per request, and `Certificate` is a large value.
public final class PeerCertificate: Sendable {
    public let certificate: Certificate
    public let sha256: [UInt8]
    /// The certificate's URI subjectAltNames, read once: the caller check of every request on the lean path needs the
    /// SPIFFE ID, and parsing the extension per request was 4 % of a roles resolution (perf, `roles_resolve`).
    public let uriNames: [String]

    public init(certificate: Certificate, sha256: [UInt8]) {
        self.certificate = certificate
        self.sha256 = sha256
        self.uriNames = ServiceIdentity.uriNames(of: certificate)
    }

    /// The service this certificate names in `trustDomain` (``ServiceIdentity/name(of:trustDomain:)``).
    public func serviceName(trustDomain: String) -> String? {
        ServiceIdentity.name(uris: uriNames, trustDomain: trustDomain)
    }
}

/// Parsed peer certificates by DER. A kept-alive mTLS connection presents the same certificate on every request, and
/// parsing it was the largest cost of a request after TLS itself (perf, `make bench`). Bounded: emptied when full.
final class PeerCertificateCache: Sendable {
    static let shared = PeerCertificateCache()
    private static let capacity = 1024
    private let entries = Mutex<[DERKey: PeerCertificate]>([:])

    func peer(der: [UInt8]) -> PeerCertificate? {
        let key = DERKey(bytes: der)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        let parsed = PeerCertificate(certificate: certificate, sha256: Thumbprint.sha256(der: der))
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = parsed
        }
        return parsed
    }

    /// DER bytes hashed as one block: `[UInt8]`'s own `Hashable` feeds the hasher a byte at a time, which was 1.5 % of
    /// an mTLS request for a 1 KB certificate (perf, `make bench`).
    struct DERKey: Hashable, Sendable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
