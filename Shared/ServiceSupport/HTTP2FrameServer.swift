#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AuthProtocol
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import NIOTLS
import Synchronization
import X509

/// The server side of a service's listener: TLS, then HTTP/2 or HTTP/1.1 as ALPN decides.
///
/// HTTP/1.1 (gateways such as nginx `auth_request`, curl without `--http2`) is Hummingbird's own `HTTP1Channel`.
/// HTTP/2, the internal protocol, is served by ``HTTP2RequestHandler``: the frames are handled on the connection's
/// channel and each request goes straight to the router. Hummingbird's HTTP/2 server instead gives every stream a
/// swift-nio-http2 child channel with its own pipeline and an `NIOAsyncChannel`; on a kept-alive request that
/// machinery was over half of authn's CPU (perf, `make bench`), several times the token check itself.
///
/// When `bindToEventLoop` (``ListenerSettings/handlersOnEventLoop``), request handling prefers the connection's event
/// loop as task executor (SE-0417, ``EventLoopTaskExecutor``): a request that does not wait on I/O is handled start to
/// finish on the thread that read it, and default actors called from it run there too. Handlers must therefore not
/// block (none of the services' routes does: SQLite runs on GRDB's own queue, files are read at start-up and on reload
/// in detached tasks); awaiting I/O (roles, token-issuer, the IdP, PostgreSQL) suspends and frees the loop. Turned off,
/// the event loops do only I/O, which suits a process hosting several services on the same loops (the in-process
/// tests, where debug builds' handler work on the loops held back other connections' connects for over 10 s).
struct ServiceServerChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1Channel.Value, Void>>
        let channel: any Channel
    }

    let sslContext: NIOSSLContext
    let customVerificationCallback: TLSChannelConfiguration.CustomVerificationCallback?
    /// Replaces `customVerificationCallback` when set: keeps the client's presented chain with the connection.
    let clientChainCallback: ClientChainCallback?
    let http1: HTTP1Channel
    let http2: HTTP2RequestHandler.Shared

    init(
        tls: TLSChannelConfiguration, clientChainCallback: ClientChainCallback? = nil,
        http1Responder: @escaping HTTPChannelHandler.Responder, http2: HTTP2RequestHandler.Shared
    ) throws {
        var configuration = tls.tlsConfiguration
        configuration.applicationProtocols = ["h2", "http/1.1"]
        self.sslContext = try NIOSSLContext(configuration: configuration)
        self.customVerificationCallback = tls.customVerificationCallback
        self.clientChainCallback = clientChainCallback
        self.http1 = HTTP1Channel(responder: http1Responder)
        self.http2 = http2
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let http1 = self.http1
        let http2 = self.http2
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
            // Right above TLS: the writes of one event-loop tick leave in one TLS record batch and one `writev`;
            // the handshake's own flushes (below this handler) are not delayed.
            try pipeline.addHandler(CoalescingFlushHandler())
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<NIONegotiatedHTTPVersion<HTTP1Channel.Value, Void>> {
                result in
                switch result {
                case .negotiated("h2"):
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        let requests = HTTP2RequestHandler(shared: http2, channel: channel)
                        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
                        configuration.initialSettings = HTTP2RequestHandler.settings
                        try sync.addHandler(NIOHTTP2Handler(mode: .server, frameDelegate: requests, connectionConfiguration: configuration))
                        try sync.addHandler(requests)
                        return .http2(())
                    }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).map { .http1_1($0) }
                case .negotiated:
                    // Only h2 and http/1.1 are offered, so the TLS library would not have agreed to anything else.
                    return channel.close().flatMap { channel.eventLoop.makeFailedFuture(NIOHTTP2Errors.invalidALPNToken()) }
                }
            }
            try pipeline.addHandler(negotiation)
            return channel.eventLoop.makeSucceededFuture(Value(negotiated: negotiation.protocolNegotiationResult, channel: channel))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    func handle(value: Value, logger: Logger) async {
        let negotiated: NIONegotiatedHTTPVersion<HTTP1Channel.Value, Void>
        do {
            negotiated = try await value.negotiated.get()
        } catch {
            logger.debug("TLS or protocol negotiation failed", metadata: ["error": "\(error)"])
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

/// Serves HTTP/2 requests from the frames on a connection's channel, below swift-nio-http2's `NIOHTTP2Handler` (which
/// keeps the connection and stream state machines, HPACK, flow control of what is sent, SETTINGS, PING and the DoS
/// limits): a request's HEADERS and DATA are gathered per stream, the router answers in a task, and the answer leaves
/// as one HEADERS and one DATA frame. Inbound flow control (WINDOW_UPDATE for what was read) is done here, as
/// swift-nio-http2's stream multiplexer would. Bodies are small on this protocol: a request body over
/// `maximumBodySize` is answered 413 at once; answers are gathered whole before they are sent.
///
/// On `ChannelShouldQuiesceEvent` (graceful shutdown) it sends GOAWAY naming the last stream it accepted, finishes the
/// requests in flight and closes the connection; a client that leaves a request unfinished gets
/// `gracefulCloseTimeout` before the connection is closed anyway.
final class HTTP2RequestHandler: ChannelDuplexHandler, NIOHTTP2FrameDelegate {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = Never
    typealias OutboundOut = HTTP2Frame

    /// SETTINGS sent to clients: swift-nio-http2's defaults (100 concurrent streams, 16 KiB of header list).
    static let settings = nioDefaultSettings
    /// How long a quiescing or half-closed connection waits for its open streams.
    static let gracefulCloseTimeout = TimeAmount.seconds(20)

    /// What every connection of a listener shares.
    struct Shared: Sendable {
        let responder: RouterResponder<ServiceRequestContext>
        let logger: Logger
        let bindToEventLoop: Bool
        let maximumBodySize: Int
    }

    /// A stream whose request is being read or answered; forgotten when swift-nio-http2 reports it closed.
    private struct Stream {
        var head: HTTPRequest
        var body: ByteBuffer?
        /// The client has sent END_STREAM.
        var requestEnded: Bool
        /// The request went to the router (or was refused); later DATA is dropped.
        var dispatched: Bool
        var answered = false
    }

    private let shared: Shared
    private let channel: any Channel
    private let executor: EventLoopTaskExecutor?
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var lastStreamID: HTTP2StreamID = .rootStream
    private var quiescing = false
    /// The client has closed its side of the connection.
    private var inputClosed = false
    /// The close at the end of `gracefulCloseTimeout`; cancelled when the connection closes first (it holds the
    /// connection's memory until it runs).
    private var drainTimer: Scheduled<Void>?
    /// The drained connection's close is queued.
    private var closing = false
    /// The connection's client certificate, read once at the first request (`.some(nil)`: none was presented).
    private var peerCertificate: PeerCertificate??
    /// swift-nio-http2 has sent GOAWAY with an error: the connection is over.
    private var connectionFailed = false
    /// Inbound flow control to hand back at the end of the read: connection level, and per stream still receiving.
    private var connectionWindowToReturn = 0
    private var streamWindowsToReturn: [(HTTP2StreamID, Int)] = []

    init(shared: Shared, channel: any Channel) {
        self.shared = shared
        self.channel = channel
        self.executor = shared.bindToEventLoop ? EventLoopTaskExecutor(eventLoop: channel.eventLoop) : nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let streamID = frame.streamID
        switch frame.payload {
        case .headers(let payload):
            if var stream = streams[streamID] {
                // Trailers: only their end of stream matters here.
                guard payload.endStream else { return }
                stream.requestEnded = true
                let start = !stream.dispatched
                stream.dispatched = true
                streams[streamID] = stream
                if start { dispatch(stream, streamID: streamID, context: context) }
                return
            }
            guard !quiescing else { return }  // beyond the GOAWAY's last stream: swift-nio-http2 refuses it
            lastStreamID = max(lastStreamID, streamID)
            guard let head = Self.request(from: payload.headers) else {
                streams[streamID] = Stream(
                    head: HTTPRequest(method: .get, scheme: nil, authority: nil, path: "/"), requestEnded: payload.endStream,
                    dispatched: true)
                answer(
                    Self.problem(.badRequest, "the request's pseudo-headers (:method, :path) are missing or malformed"),
                    streamID: streamID, context: context)
                return
            }
            let stream = Stream(head: head, requestEnded: payload.endStream, dispatched: payload.endStream)
            streams[streamID] = stream
            if payload.endStream { dispatch(stream, streamID: streamID, context: context) }
        case .data(let payload):
            let flowControlled = payload.data.readableBytes + (payload.paddingBytes.map { $0 + 1 } ?? 0)
            connectionWindowToReturn += flowControlled
            guard var stream = streams[streamID] else { return }
            if payload.endStream { stream.requestEnded = true }
            guard !stream.dispatched else {
                streams[streamID] = stream
                return
            }
            guard case .byteBuffer(let chunk) = payload.data else { return }  // inbound DATA is always a ByteBuffer
            let size = (stream.body?.readableBytes ?? 0) + chunk.readableBytes
            if size > shared.maximumBodySize {
                stream.dispatched = true
                stream.body = nil
                streams[streamID] = stream
                answer(
                    Self.problem(
                        .contentTooLarge,
                        "the request body is over \(shared.maximumBodySize) bytes, the limit of this protocol; "
                            + "send a smaller JSON document (split a bulk change into several requests)"),
                    streamID: streamID, context: context)
                return
            }
            if stream.body == nil {
                stream.body = chunk
            } else {
                var chunk = chunk
                stream.body?.writeBuffer(&chunk)
            }
            if payload.endStream {
                stream.requestEnded = true
                stream.dispatched = true
                streams[streamID] = stream
                dispatch(stream, streamID: streamID, context: context)
            } else {
                streams[streamID] = stream
                if flowControlled > 0 { streamWindowsToReturn.append((streamID, flowControlled)) }
            }
        case .rstStream:
            streams[streamID] = nil
            closeIfDrainedAndIdle(context: context)
        default:
            break  // SETTINGS, PING, GOAWAY, WINDOW_UPDATE, PRIORITY: NIOHTTP2Handler's business
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        var wrote = false
        if connectionWindowToReturn > 0 {
            context.write(
                wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: connectionWindowToReturn))),
                promise: nil)
            connectionWindowToReturn = 0
            wrote = true
        }
        for (streamID, increment) in streamWindowsToReturn where streams[streamID]?.dispatched == false {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: increment))), promise: nil)
            wrote = true
        }
        streamWindowsToReturn.removeAll(keepingCapacity: true)
        if wrote { context.flush() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let closed as StreamClosedEvent:
            streams[closed.streamID] = nil
            closeIfDrainedAndIdle(context: context)
        case is ChannelShouldQuiesceEvent:
            guard !quiescing else { return }
            quiescing = true
            context.writeAndFlush(
                wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))),
                promise: nil)
            startDraining(context: context)
        case ChannelEvent.inputClosed:
            // The client closed its side (Hummingbird's server allows half-closure, so the channel stays open): nothing
            // more will arrive. Requests it did not finish never will; the others are answered, then the connection
            // is closed. (Without this a client's FIN left the connection, and its ~90 KB, open for good.)
            guard !inputClosed else { return }
            inputClosed = true
            streams = streams.filter { $0.value.requestEnded }
            startDraining(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// swift-nio-http2 reports a stream error (it has sent RST_STREAM: malformed headers, a content-length mismatch...)
    /// and a connection error (it has sent GOAWAY) alike, as the bare error; the GOAWAY it wrote tells them apart.
    func wroteFrame(_ frame: HTTP2Frame) {
        if case .goAway(_, let code, _) = frame.payload, code != .noError { connectionFailed = true }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .uncleanShutdown? = error as? NIOSSLError {
            // The client closed TCP without TLS close_notify; `ChannelEvent.inputClosed` follows and drains the
            // connection (the answers in flight still go out).
            shared.logger.debug("client closed the connection without TLS close_notify")
            return
        }
        if !connectionFailed, error is any NIOHTTP2Error {
            // A stream error: that stream is reset (its StreamClosedEvent follows); the connection goes on.
            shared.logger.debug("HTTP/2 stream reset", metadata: ["error": "\(error)"])
            return
        }
        shared.logger.debug("HTTP/2 connection closed on error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        streams.removeAll()
        drainTimer?.cancel()
        drainTimer = nil
        context.fireChannelInactive()
    }

    /// Shutting down or the client is done: close once the streams in flight are over, and after
    /// `gracefulCloseTimeout` at the latest.
    private func startDraining(context: ChannelHandlerContext) {
        closeIfDrainedAndIdle(context: context)
        guard drainTimer == nil, context.channel.isActive else { return }
        let target = NIOLoopBound(context, eventLoop: context.eventLoop)
        drainTimer = context.eventLoop.scheduleTask(in: Self.gracefulCloseTimeout) { target.value.close(promise: nil) }
    }

    private func closeIfDrainedAndIdle(context: ChannelHandlerContext) {
        guard quiescing || inputClosed, streams.isEmpty, !closing else { return }
        closing = true
        // Not from inside swift-nio-http2's callout: the StreamClosedEvent of the last stream comes while its final
        // frame is still on its way down the pipeline, and closing there dropped that answer.
        let target = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            target.value.flush()
            target.value.close(promise: nil)
        }
    }

    // MARK: answering

    /// Hands a complete request to the router in a task; the answer comes back to the event loop.
    private func dispatch(_ stream: Stream, streamID: HTTP2StreamID, context: ChannelHandlerContext) {
        let request = Request(head: stream.head, body: RequestBody(buffer: stream.body ?? ByteBuffer()))
        let peer = connectionPeerCertificate()
        let shared = self.shared
        let channel = self.channel
        let loop = context.eventLoop
        let target = NIOLoopBound(Target(handler: self, context: context), eventLoop: loop)
        let preference: (any TaskExecutor)? = executor
        Task(executorPreference: preference) {
            let answer = await HTTP2RequestHandler.respond(to: request, channel: channel, peer: peer, shared: shared)
            if loop.inEventLoop {
                target.value.answer(answer, streamID: streamID)
            } else {
                loop.execute { target.value.answer(answer, streamID: streamID) }
            }
        }
    }

    /// Where an answer goes back to, on the event loop.
    private struct Target {
        let handler: HTTP2RequestHandler
        let context: ChannelHandlerContext

        func answer(_ answer: Answer, streamID: HTTP2StreamID) {
            handler.answer(answer, streamID: streamID, context: context)
        }
    }

    /// The TLS handshake's client certificate: a connection keeps the one it was established with, so it is read and
    /// parsed once rather than per request (it was 3-4 % of an mTLS request, perf).
    private func connectionPeerCertificate() -> PeerCertificate? {
        if let known = peerCertificate { return known }
        var certificate: PeerCertificate?
        if let tls = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let presented = tls.peerCertificate, let der = try? presented.toDERBytes()
        {
            certificate = PeerCertificateCache.shared.peer(der: der)
        }
        peerCertificate = .some(certificate)
        return certificate
    }

    /// A response gathered whole, ready for the frames.
    struct Answer: Sendable {
        var head: HTTPResponse
        var body: ByteBuffer
        var trailers: HTTPFields?
    }

    /// The router's answer, as Hummingbird's `Application` would make it: an error it does not turn into a response
    /// becomes a bare 500. (Hummingbird also adds an `hb.request.id` to the request's logger; here the `trace_id` and
    /// `span_id` that ``TracingMiddleware`` adds identify the request.)
    private static func respond(to request: Request, channel: any Channel, peer: PeerCertificate?, shared: Shared) async -> Answer {
        let logger = shared.logger
        var context = ServiceRequestContext(source: .init(channel: channel, logger: logger))
        context.connectionPeerCertificate = .some(peer)
        do {
            let response = try await shared.responder.respond(to: request, context: context)
            let collector = BodyCollector()
            try await response.body.write(collector)
            var head = response.head
            if head.status == .noContent || head.status.kind == .informational {
                head.headerFields[.contentLength] = nil  // RFC 9110 section 8.6: never on 1xx and 204
            } else if head.headerFields[.contentLength] == nil, request.method != .head {
                head.headerFields[.contentLength] = String(collector.body.readableBytes)
            }
            return Answer(head: head, body: collector.body, trailers: collector.trailers)
        } catch {
            logger.debug("Unrecognised Error", metadata: ["error.type": "\(error)"])
            return Answer(head: HTTPResponse(status: .internalServerError, headerFields: [.contentLength: "0"]), body: ByteBuffer())
        }
    }

    /// Writes `answer` on `streamID` unless the stream is gone (reset by the client, or the connection closed).
    private func answer(_ answer: Answer, streamID: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var stream = streams[streamID], !stream.answered else { return }
        stream.answered = true
        stream.body = nil
        streams[streamID] = stream
        let isHead = stream.head.method == .head
        var headers = HPACKHeaders()
        headers.reserveCapacity(answer.head.headerFields.count + 2)
        headers.add(name: ":status", value: Self.statusText(answer.head.status.code))
        Self.append(answer.head.headerFields, to: &headers)
        if answer.head.headerFields[.date] == nil { headers.add(name: "date", value: HTTPDate.now()) }
        let sendsBody = !isHead && answer.body.readableBytes > 0
        context.write(
            wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: !sendsBody && answer.trailers == nil)))),
            promise: nil)
        if sendsBody {
            context.write(
                wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(answer.body), endStream: answer.trailers == nil)))),
                promise: nil)
        }
        if let trailers = answer.trailers {
            var block = HPACKHeaders()
            Self.append(trailers, to: &block)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: block, endStream: true)))), promise: nil)
        }
        // Answered before the whole request arrived (413, a malformed head): ask the client to stop sending (RFC 9113
        // section 8.1). swift-nio-http2 reports the stream closed once its last frame is out; it is forgotten then.
        if !stream.requestEnded {
            // Flushed first: swift-nio-http2 holds DATA until a flush, and a reset would discard it.
            context.flush()
            context.write(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(.noError))), promise: nil)
        }
        context.flush()
    }

    /// A small JSON problem answer in the protocol's error shape (`OAuthErrorResponse`, as `JSONResponse` writes it).
    private static func problem(_ status: HTTPResponse.Status, _ description: String) -> Answer {
        let error = status == .contentTooLarge ? "request_too_large" : "invalid_request"
        let buffer = JSONResponse.encoded(OAuthErrorResponse(error: error, errorDescription: description))
        return Answer(
            head: HTTPResponse(
                status: status,
                headerFields: [.contentType: "application/json", .cacheControl: "no-store", .contentLength: String(buffer.readableBytes)]),
            body: buffer)
    }

    // MARK: header conversion

    /// The request head from a HEADERS block swift-nio-http2 has validated (pseudo-headers first, lower-case names, no
    /// connection-specific fields); nil when `:method` or `:path` is missing or not a valid token or path.
    static func request(from headers: HPACKHeaders) -> HTTPRequest? {
        var method: HTTPRequest.Method?
        var scheme: String?
        var authority: String?
        var path: String?
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count)
        for (name, value, _) in headers {
            if name.utf8.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = HTTPRequest.Method(value)
                case ":scheme": scheme = value
                case ":authority": authority = value
                case ":path": path = value
                default: break  // :protocol (extended CONNECT) is not used here
                }
            } else if let fieldName = HTTPField.Name(name) {
                fields.append(HTTPField(name: fieldName, value: value))
            }
        }
        guard let method, let path, !path.isEmpty else { return nil }
        return HTTPRequest(method: method, scheme: scheme, authority: authority, path: path, headerFields: fields)
    }

    /// `fields` as HTTP/2 header lines: lower-case names, connection-specific fields (forbidden in HTTP/2) left out.
    /// `traceparent` differs on every answer, so it is not entered into the connection's HPACK table: indexed, it
    /// filled the table with entries never used again, and every header of every answer was searched against them
    /// (`HeaderTableStorage.closestMatch`, ≈3 % of an mTLS request, perf).
    private static func append(_ fields: HTTPFields, to block: inout HPACKHeaders) {
        for field in fields where !isConnectionSpecific(field.name) {
            block.add(name: field.name.canonicalName, value: field.value, indexing: field.name == .traceparent ? .nonIndexable : .indexable)
        }
    }

    private static func isConnectionSpecific(_ name: HTTPField.Name) -> Bool {
        switch name {
        case .connection, .transferEncoding, .upgrade, Self.proxyConnection, Self.keepAlive: true
        default: false
        }
    }

    private static let proxyConnection = HTTPField.Name("proxy-connection")!
    private static let keepAlive = HTTPField.Name("keep-alive")!

    private static let commonStatusTexts: [Int: String] = Dictionary(
        uniqueKeysWithValues: [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504]
            .map { ($0, String($0)) })

    private static func statusText(_ code: Int) -> String {
        commonStatusTexts[code] ?? String(code)
    }
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

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted once per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((0, ""))

    static func now() -> String {
        let second = time(nil)
        if let text = cache.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = format(epochSecond: second)
        cache.withLock { $0 = (second, text) }
        return text
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `epochSecond` (on or after 1970) as an IMF-fixdate.
    static func format(epochSecond: Int) -> String {
        let time = CivilTime(epochSecond: epochSecond)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[time.weekday]), \(two(time.day)) \(months[time.month - 1]) \(time.year) "
            + "\(two(time.hour)):\(two(time.minute)):\(two(time.second)) GMT"
    }
}
