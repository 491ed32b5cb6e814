import HTTPServing
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import WireFormat

/// The lean path for HTTP/1.1 (gateways: nginx `auth_request`, Traefik `forwardAuth`, curl without `--http2`): the
/// same ``ImmediateResponder`` as HTTP/2 answers what it can at once, on the event loop, with no `Task`; every other
/// request goes on to Hummingbird's HTTP/1.1 handler and the router, unchanged.
///
/// It sits between Hummingbird's `HTTPConnectionStateHandler` (which so still sees every request and answer, and keeps
/// the idle timer right) and the connection's `NIOAsyncChannel`. HTTP/1.1 answers leave in request order, so a request
/// is considered only while no earlier request of the connection is still with the router (``inFlight``); a pipelined
/// request behind a slow one simply takes the router path too. A request is held back until it is whole (its body at
/// most `maximumBodySize` bytes, the router's own limit); a bigger body, or `Expect: 100-continue`, goes on as it came.
final class HTTP1ImmediateHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the handler is doing with the request being read.
    enum Reading {
        /// Between requests.
        case idle
        /// Holding a request back until it is whole, to offer it to the lean path.
        case collecting(HTTPRequest, ByteBuffer)
        /// Passing the request's parts on to the router as they come.
        case forwarding
        /// The connection closes after an answer made here (`Connection: close`); anything read after it is dropped.
        case closing
    }

    private let serving: HTTP2Serving
    private let peer: ConnectionPeer
    private var reading = Reading.idle
    /// Requests handed to the router whose answer has not been written out whole yet.
    private var inFlight = 0

    init(serving: HTTP2Serving, channel: any Channel) {
        self.serving = serving
        self.peer = ConnectionPeer(channel: channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (reading, part) {
        case (.closing, _):
            return
        case (.idle, .head(let head)):
            if inFlight == 0, Self.mayAnswerAtOnce(head) {
                reading = .collecting(head, context.channel.allocator.buffer(capacity: 0))
            } else {
                reading = .forwarding
                inFlight += 1
                context.fireChannelRead(data)
            }
        case (.collecting(let head, var body), .body(var chunk)):
            if body.readableBytes + chunk.readableBytes > serving.settings.maximumBodySize {
                // Too big for the lean path: the router reads it and applies its own limit.
                reading = .forwarding
                inFlight += 1
                context.fireChannelRead(wrapInboundOut(.head(head)))
                if body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(body))) }
                context.fireChannelRead(data)
            } else {
                reading = .idle  // no copy-on-write of `body` while it is appended to
                body.writeBuffer(&chunk)
                reading = .collecting(head, body)
            }
        case (.collecting(let head, let body), .end(let trailers)):
            reading = .idle
            if trailers == nil, let answer = immediateAnswer(to: head, body: body) {
                write(answer, for: head, context: context)
            } else {
                inFlight += 1
                context.fireChannelRead(wrapInboundOut(.head(head)))
                if body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(body))) }
                context.fireChannelRead(data)
            }
        case (.forwarding, .end):
            reading = .idle
            context.fireChannelRead(data)
        case (.forwarding, _):
            context.fireChannelRead(data)
        case (.idle, _), (.collecting, .head):
            // NIO's HTTP/1 decoder never sends these; pass them on and let Hummingbird's handler refuse them.
            reading = .forwarding
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), inFlight > 0 {
            inFlight -= 1
        }
        context.write(data, promise: promise)
    }

    /// Only a request whose body arrives whole without the client waiting for `100 Continue` is held back.
    static func mayAnswerAtOnce(_ head: HTTPRequest) -> Bool {
        head.headerFields[.expect] == nil
    }

    private func immediateAnswer(to head: HTTPRequest, body: ByteBuffer) -> HTTP2ServedAnswer? {
        guard serving.immediate != nil, let path = head.path else { return nil }
        let request = HTTP2ServedRequest(
            method: head.method, scheme: head.scheme ?? "https", authority: head.authority,
            path: path, headers: HTTP2RequestHeaders(head.headerFields), body: body)
        return serving.immediateAnswer(to: request, peer: peer.certificate())
    }

    /// Writes an answer made here as one head, body and end, flushed together; closes the connection after it when the
    /// request asked for that, as Hummingbird's handler does.
    private func write(_ answer: HTTP2ServedAnswer, for request: HTTPRequest, context: ChannelHandlerContext) {
        var head = answer.head
        if head.headerFields[.date] == nil { head.headerFields[.date] = HTTPDate.now() }
        let close = request.headerFields[.connection].map { $0.lowercased().contains("close") } ?? false
        if close {
            head.headerFields[.connection] = "close"
            reading = .closing
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if answer.body.readableBytes > 0, request.method != .head {
            context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        }
        if close {
            let done = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(answer.trailers)), promise: done)
            done.futureResult.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        } else {
            // Flushed at the end of this read (`channelReadComplete`), with any other answers the same read made.
            context.write(wrapOutboundOut(.end(answer.trailers)), promise: nil)
            needsFlush = true
        }
    }

    private var needsFlush = false

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }
}
