import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import HTTPServing
import NIOSSL
import NIOTLS

/// The server side of a service's listener: TLS, then HTTP/2 or HTTP/1.1 as ALPN decides.
///
/// HTTP/1.1 (gateways such as nginx `auth_request`, curl without `--http2`) is Hummingbird's own `HTTP1Channel`, with
/// the same lean path as HTTP/2 in front of it (``HTTP1ImmediateHandler``).
/// HTTP/2, the internal protocol, is served by libnghttp2 (``NGHTTP2ServerHandler``, one session per connection) and
/// each request goes straight to the router (``HTTP2Serving``). swift-nio-http2's per-stream machinery, first as
/// Hummingbird's child channels and then at frame level, measured 2-4 x nginx's CPU per request (`make bench`).
///
/// When `bindToEventLoop` (``ListenerSettings/handlersOnEventLoop``), request handling prefers the connection's event
/// loop as task executor (SE-0417, ``EventLoopTaskExecutor``): a request that does not wait on I/O is handled start to
/// finish on the thread that read it, and default actors called from it run there too. Handlers must therefore not
/// block (none of the services' routes does: SQLite runs on GRDB's own queue, files are read at start-up and on reload
/// in detached tasks); awaiting I/O (roles, token-issuer, the IdP, PostgreSQL) suspends and frees the loop. Turned off,
/// the event loops do only I/O, which suits a process hosting several services on the same loops (the in-process
/// tests, where debug builds' handler work on the loops held back other connections' connects for over 10 s).
struct ServiceServerChannel: ServerChildChannel {
    /// What ALPN chose: HTTP/1.1 (Hummingbird's channel) or HTTP/2 (served by its handler on the connection).
    enum NegotiatedProtocol: Sendable {
        case http1_1(HTTP1Channel.Value)
        case http2
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NegotiatedProtocol>
        let channel: any Channel
    }

    /// The listener's TLS material; each new connection takes the current one (reloaded without restart).
    let tlsContext: ServerTLSContext
    let customVerificationCallback: TLSChannelConfiguration.CustomVerificationCallback?
    /// Replaces `customVerificationCallback` when set: keeps the client's presented chain with the connection.
    let clientChainCallback: ClientChainCallback?
    let http1: HTTP1Channel
    let http2: HTTP2Serving

    let handshakeTimeout: TimeAmount

    init(
        verification: TLSChannelConfiguration.CustomVerificationCallback?, tlsContext: ServerTLSContext,
        clientChainCallback: ClientChainCallback? = nil,
        http1Responder: @escaping HTTPChannelHandler.Responder, http2: HTTP2Serving, handshakeTimeout: TimeAmount
    ) throws {
        self.tlsContext = tlsContext
        self.customVerificationCallback = verification
        self.clientChainCallback = clientChainCallback
        // HTTP/1.1 (gateways, curl): the same idle timeout as HTTP/2, and header limits of the same size.
        self.http1 = HTTP1Channel(
            responder: http1Responder,
            configuration: .init(
                idleTimeout: http2.settings.idleTimeout,
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: http2.settings.maxHeaderListSize, maxHeaderListSize: http2.settings.maxHeaderListSize,
                    maxHeaderFieldCount: 200)))
        self.http2 = http2
        self.handshakeTimeout = handshakeTimeout
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let http1 = self.http1
        let http2 = self.http2
        let sslContext = tlsContext.current
        do {
            let pipeline = channel.pipeline.syncOperations
            if let clientChainCallback {
                try pipeline.addHandler(
                    NIOSSLServerHandler(
                        context: sslContext, configuration: .init(), customVerificationCallbackWithMetadata: clientChainCallback))
            } else {
                try pipeline.addHandler(
                    NIOSSLServerHandler(
                        context: sslContext, customVerificationCallback: customVerificationCallback, configuration: .init()))
            }
            try pipeline.addHandler(HandshakeTimeoutHandler(timeout: handshakeTimeout))
            // Right above TLS: the writes of one event-loop tick leave in one TLS record batch and one `writev`;
            // the handshake's own flushes (below this handler) are not delayed.
            try pipeline.addHandler(CoalescingFlushHandler())
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<NegotiatedProtocol> {
                result in
                switch result {
                case .negotiated("h2"):
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(UncleanShutdownFilter(logger: http2.logger))
                        try sync.addHandler(
                            NGHTTP2ServerHandler(settings: http2.settings, logger: http2.logger, dispatch: http2.dispatcher(for: channel)))
                        return .http2
                    }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).flatMapThrowing { connection in
                        if http2.immediate != nil {
                            // The lean path, right after Hummingbird's connection-state handler (see HTTP1ImmediateHandler).
                            let sync = channel.pipeline.syncOperations
                            let state = try sync.handler(type: HTTPConnectionStateHandler.self)
                            try sync.addHandler(HTTP1ImmediateHandler(serving: http2, channel: channel), position: .after(state))
                        }
                        return .http1_1(connection)
                    }
                case .negotiated:
                    // Only h2 and http/1.1 are offered, so the TLS library would not have agreed to anything else.
                    return channel.close().flatMap { channel.eventLoop.makeFailedFuture(UnexpectedALPN()) }
                }
            }
            try pipeline.addHandler(negotiation)
            return channel.eventLoop.makeSucceededFuture(Value(negotiated: negotiation.protocolNegotiationResult, channel: channel))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    func handle(value: Value, logger: Logger) async {
        let negotiated: NegotiatedProtocol
        do {
            negotiated = try await value.negotiated.get()
        } catch {
            logger.debug("TLS or protocol negotiation failed", error: error)
            return
        }
        switch negotiated {
        case .http1_1(let connection):
            guard http2.bindToEventLoop else {
                await http1.handle(value: connection, logger: logger)
                return
            }
            await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: value.channel.eventLoop)) {
                await http1.handle(value: connection, logger: logger)
            }
        case .http2:
            // The connection is served by its handlers on the event loop; this task only marks it open for the server.
            try? await value.channel.closeFuture.get()
        }
    }
}

/// What every HTTP/2 connection of a listener shares: the router, and how a request reaches it.
struct HTTP2Serving: Sendable {
    let responder: RouterResponder<ServiceRequestContext>
    let logger: Logger
    let bindToEventLoop: Bool
    let settings: HTTP2ServerSettings
    /// The lean path: answers ready without waiting, made on the event loop with no task (``ImmediateResponder``).
    let immediate: (any ImmediateResponder)?

    init(
        responder: RouterResponder<ServiceRequestContext>, logger: Logger, bindToEventLoop: Bool, settings: HTTP2ServerSettings,
        immediate: (any ImmediateResponder)? = nil
    ) {
        self.responder = responder
        self.logger = logger
        self.bindToEventLoop = bindToEventLoop
        self.settings = settings
        self.immediate = immediate
    }

    /// The dispatch of one connection: a request the lean path can answer is answered at once, on the event loop;
    /// every other goes to the router in a task (on the connection's event loop when `bindToEventLoop`), with the
    /// connection's client certificate read once.
    func dispatcher(for channel: any Channel) -> NGHTTP2ServerHandler.Dispatch {
        let connection = ConnectionPeer(channel: channel)
        let executor: EventLoopTaskExecutor? = bindToEventLoop ? EventLoopTaskExecutor(eventLoop: channel.eventLoop) : nil
        let serving = self
        return { request, sink in
            let peer = connection.certificate()
            if let answer = serving.immediateAnswer(to: request, peer: peer) {
                sink(answer)
                return
            }
            let request = Request(head: request.head, body: RequestBody(buffer: request.body))
            let preference: (any TaskExecutor)? = executor
            Task(executorPreference: preference) {
                sink(await serving.respond(to: request, channel: channel, peer: peer))
            }
        }
    }

    /// The router's answer, as Hummingbird's `Application` would make it: an error it does not turn into a response
    /// becomes a bare 500. (Hummingbird also adds an `hb.request.id` to the request's logger; here the `trace_id` and
    /// `span_id` that ``TracingMiddleware`` adds identify the request.)
    func respond(to request: Request, channel: any Channel, peer: PeerCertificate?) async -> HTTP2ServedAnswer {
        var context = ServiceRequestContext(source: .init(channel: channel, logger: logger))
        context.connectionPeerCertificate = .some(peer)
        do {
            let response = try await responder.respond(to: request, context: context)
            let collector = BodyCollector()
            try await response.body.write(collector)
            var head = response.head
            if head.status == .noContent || head.status.kind == .informational {
                head.headerFields[.contentLength] = nil  // RFC 9110 section 8.6: never on 1xx and 204
            } else if head.headerFields[.contentLength] == nil, request.method != .head {
                head.headerFields[.contentLength] = String(collector.body.readableBytes)
            }
            return HTTP2ServedAnswer(head: head, body: collector.body, trailers: collector.trailers)
        } catch {
            logger.debug("Unrecognised Error", error: error)
            return HTTP2ServedAnswer(head: HTTPResponse(status: .internalServerError, headerFields: [.contentLength: "0"]), body: ByteBuffer())
        }
    }
}

/// A connection's client certificate, read on its event loop.
final class ConnectionPeer {
    let channel: any Channel
    /// The client certificate, read once at the first request (`.some(nil)`: none was presented).
    private var peer: PeerCertificate??

    init(channel: any Channel) {
        self.channel = channel
    }

    /// The TLS handshake's client certificate: a connection keeps the one it was established with, so it is read and
    /// parsed once rather than per request (it was 3-4 % of an mTLS request, perf).
    func certificate() -> PeerCertificate? {
        if let known = peer { return known }
        var certificate: PeerCertificate?
        if let tls = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let presented = tls.peerCertificate, let der = try? presented.toDERBytes()
        {
            certificate = PeerCertificateCache.shared.peer(der: der)
        }
        peer = .some(certificate)
        return certificate
    }
}

/// The client closed TCP without TLS close_notify (a "ragged EOF", what many clients do): NIOSSL reports it as an
/// error, and `ChannelEvent.inputClosed` follows. Not a reason to drop the answers in flight: the HTTP/2 handler drains
/// the connection on `inputClosed` instead.
final class UncleanShutdownFilter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .uncleanShutdown? = error as? NIOSSLError {
            logger.debug("client closed the connection without TLS close_notify")
            return
        }
        context.fireErrorCaught(error)
    }
}

/// ALPN agreed on a protocol that was not offered (the TLS library would not do that).
struct UnexpectedALPN: Error, CustomStringConvertible {
    var description: String { "TLS negotiated an application protocol other than h2 and http/1.1" }
}

/// Gathers a response body: the services answer with small JSON documents.
private final class BodyCollector: ResponseBodyWriter {
    var body = ByteBuffer()
    var trailers: HTTPFields?

    func write(_ buffer: ByteBuffer) async throws {
        if body.readableBytes == 0 {
            body = buffer
        } else {
            var buffer = buffer
            body.writeBuffer(&buffer)
        }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {
        trailers = trailingHeaders
    }
}
