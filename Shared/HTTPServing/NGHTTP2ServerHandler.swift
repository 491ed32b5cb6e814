import CNGHTTP2
import HTTPTypes
import Logging
import NIOCore
import WireFormat

/// A request read whole from an HTTP/2 stream. Its header fields stay bytes (``HTTP2RequestHeaders``) until a
/// handler asks for ``head``.
public struct HTTP2ServedRequest: Sendable {
    public var method: HTTPRequest.Method
    public var scheme: String?
    public var authority: String?
    /// The request target as sent (`:path`), query included.
    public var path: String
    public var headers: HTTP2RequestHeaders
    public var body: ByteBuffer

    public init(
        method: HTTPRequest.Method, scheme: String?, authority: String?, path: String, headers: HTTP2RequestHeaders,
        body: ByteBuffer
    ) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// The request as HTTPTypes has it (field names and values become `String`s here).
    public var head: HTTPRequest {
        HTTPRequest(method: method, scheme: scheme, authority: authority, path: path, headerFields: headers.fields)
    }

    /// The path without its query.
    public var pathWithoutQuery: Substring {
        path.utf8.firstIndex(of: UInt8(ascii: "?")).map { path[..<$0] } ?? path[...]
    }
}

/// An answer gathered whole, ready for the frames.
public struct HTTP2ServedAnswer: Sendable {
    public var head: HTTPResponse
    public var body: ByteBuffer
    public var trailers: HTTPFields?

    public init(head: HTTPResponse, body: ByteBuffer, trailers: HTTPFields? = nil) {
        self.head = head
        self.body = body
        self.trailers = trailers
    }
}

/// Where a stream's answer goes: call it once, from any thread (the answer hops to the connection's event loop), or
/// synchronously from inside the dispatch closure (the lean path: no task, no hop).
public struct HTTP2AnswerSink: Sendable {
    let handler: NIOLoopBound<NGHTTP2ServerHandler>
    let streamID: Int32

    public func callAsFunction(_ answer: HTTP2ServedAnswer) {
        let loop = handler.eventLoop
        if loop.inEventLoop {
            handler.value.answer(answer, streamID: streamID)
        } else {
            let handler = self.handler, streamID = self.streamID
            loop.execute { handler.value.answer(answer, streamID: streamID) }
        }
    }
}

/// Limits and timers of the HTTP/2 server.
public struct HTTP2ServerSettings: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: more open streams are refused with RST_STREAM(REFUSED_STREAM).
    public var maxConcurrentStreams: UInt32 = 100
    /// SETTINGS_MAX_HEADER_LIST_SIZE, and enforced: a request whose decoded header list is larger is answered 431.
    public var maxHeaderListSize: Int = 16 * 1024
    /// A request body over this many bytes is answered 413 at once and the stream reset (NO_ERROR).
    public var maximumBodySize: Int = 64 * 1024
    /// How long a draining connection (shutdown, or the client closed its side) waits for its open streams.
    public var gracefulCloseTimeout: TimeAmount = .seconds(20)
    /// A connection with no open stream for this long is closed with GOAWAY(NO_ERROR).
    public var idleTimeout: TimeAmount = .seconds(300)
    /// A request must be read whole (headers and body) within this time of its first frame, else it is answered 408
    /// and reset: a client trickling a request (slowloris) does not hold a stream for good.
    public var requestReadTimeout: TimeAmount = .seconds(30)
    /// After its last frame (a GOAWAY), a connection the client still sends on is kept this long, reading and dropping,
    /// before it closes, so that the client reads the GOAWAY rather than a TCP reset.
    public var lingeringCloseTime: TimeAmount = .milliseconds(500)

    public init() {}
}

/// Serves HTTP/2 on one connection with libnghttp2: one server session per connection, driven in memory
/// (`nghttp2_session_mem_recv` / `mem_send`) from this handler, right above TLS. libnghttp2 keeps the connection and
/// stream state machines, HPACK, flow control both ways, SETTINGS, PING, and the protocol's DoS limits (rapid reset,
/// CONTINUATION and SETTINGS/PING floods, which it answers with GOAWAY). This handler gathers each request, hands it
/// to `dispatch` on the event loop, and writes answers: everything libnghttp2 has to send after a read, or after the
/// answers of one event-loop tick, leaves in one buffer, so one TLS record carries many answers.
///
/// The connection's life (open, draining, closed) is ``HTTP2ConnectionState``.
public final class NGHTTP2ServerHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Hands a complete request to the application; called on the event loop. The sink may be called at once.
    public typealias Dispatch = (HTTP2ServedRequest, HTTP2AnswerSink) -> Void

    /// A class: libnghttp2 calls back several times per request (each header, each frame), and a struct taken out of
    /// and written back into `streams` on each call was copied with all its references (perf, `make bench`).
    private final class Stream {
        var method: HTTPRequest.Method?
        var scheme: String?
        var authority: String?
        var path: String?
        var headers = HTTP2RequestHeaders()
        var headerBytes = 0
        var malformed = false
        var headerListTooLarge = false
        /// The header block has ended (END_HEADERS): until then the connection's HPACK decoder waits on this stream.
        var headersComplete = false
        var body: ByteBuffer?
        /// The client has sent END_STREAM.
        var requestEnded = false
        /// The request went to the application (or was refused); later DATA is dropped.
        var dispatched = false
        /// The answer is submitted to the session.
        var answered = false
        /// The answer's body still to hand to libnghttp2, and its trailers.
        var answerBody = ByteBuffer()
        var trailers: HTTPFields?
        var isHead = false
        var readTimer: Scheduled<Void>?
    }

    private let settings: HTTP2ServerSettings
    private let logger: Logger
    private let dispatch: Dispatch
    private var session: OpaquePointer?
    private var context: ChannelHandlerContext?
    private var streams: [Int32: Stream] = [:]
    private var state = HTTP2ConnectionState()
    private var flushScheduled = false
    private var drainTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// A write is in progress from inside libnghttp2's callbacks: answers submitted now go out with it.
    private var inSession = false
    private var lingerTimer: Scheduled<Void>?
    /// The client has not closed its side (no `inputClosed` yet).
    private var inputOpen = true
    /// Streams begun during the current read: their read timers are armed once it is over (``armReadTimers()``).
    private var begunInThisRead: [Int32] = []
    /// Scratch space for answer and trailer header blocks, reused by every answer of the connection.
    private var headerBlock = HeaderBlockBuilder()

    public init(settings: HTTP2ServerSettings, logger: Logger, dispatch: @escaping Dispatch) {
        self.settings = settings
        self.logger = logger
        self.dispatch = dispatch
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Callbacks and options are copied into the session: made per connection, they need no process-wide state.
        guard let callbacks = Self.makeCallbacks(), let options = Self.makeOptions() else {
            logger.error("libnghttp2 could not allocate its session callbacks or options")
            context.close(promise: nil)
            return
        }
        defer {
            nghttp2_session_callbacks_del(callbacks)
            nghttp2_option_del(options)
        }
        var session: OpaquePointer?
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, me, options) == 0, let session else {
            logger.error("libnghttp2 could not create a server session")
            context.close(promise: nil)
            return
        }
        self.session = session
        var entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(settings.maxHeaderListSize)),
        ]
        let count = entries.count
        _ = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, count)
        armIdleTimer()
        if context.channel.isActive { writePending() }
    }

    public func channelActive(context: ChannelHandlerContext) {
        writePending()
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session, state.phase != .closed else { return }
        let buffer = unwrapInboundIn(data)
        let result = buffer.withUnsafeReadableBytes { bytes -> Int in
            guard let base = bytes.baseAddress else { return 0 }
            inSession = true
            defer { inSession = false }
            return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        armReadTimers()
        if result < 0 {
            // A connection error libnghttp2 could not answer itself (a bad preface, a flood): it has queued GOAWAY
            // where the protocol allows one; send it and close.
            let code = Int32(truncatingIfNeeded: result)
            logger.debug("HTTP/2 connection error", metadata: [LogKey.errorMessage: .string(Self.errorText(code))])
            if code == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue {
                // A CONTINUATION flood: say why before closing (libnghttp2 leaves that to the application here).
                _ = nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
            }
            writePending()
            perform(state.finish())
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        writePending()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A client that does not read its answers: stop reading its requests until the socket drains.
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            perform(state.quiesce(openStreams: streams.count))
        } else if case ChannelEvent.inputClosed = event {
            inputOpen = false
            if lingerTimer != nil {
                context.close(promise: nil)
                return
            }
            // Requests the client did not finish never will be; the others are answered, then the connection closes.
            for (id, stream) in streams where !stream.requestEnded {
                stream.readTimer?.cancel()
                streams[id] = nil
                if let session { _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue) }
            }
            perform(state.inputClosed(openStreams: streams.count))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP/2 connection closed on error", error: error)
        perform(state.finish())
    }

    public func channelInactive(context: ChannelHandlerContext) {
        state.channelClosed()
        tearDown()
        context.fireChannelInactive()
    }

    private func tearDown() {
        drainTimer?.cancel()
        drainTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
        lingerTimer?.cancel()
        lingerTimer = nil
        for stream in streams.values { stream.readTimer?.cancel() }
        streams.removeAll()
    }

    private func perform(_ action: HTTP2ConnectionState.Action) {
        guard action != .none, let context else { return }
        if inSession {
            // From inside libnghttp2 (a stream closed while its last frame was being sent): not re-entered; done
            // right after, once that frame is on its way.
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.execute { handler.value.perform(action) }
            return
        }
        switch action {
        case .none:
            return
        case .sendGoAwayAndStartDrainTimer, .sendGoAwayAndClose:
            if let session {
                _ = nghttp2_submit_goaway(
                    session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                    NGHTTP2_NO_ERROR.rawValue, nil, 0)
            }
            writePending()
            if action == .sendGoAwayAndClose {
                lingerThenClose(context: context)
            } else {
                startDrainTimer(context: context)
            }
        case .startDrainTimer:
            writePending()
            startDrainTimer(context: context)
        case .close:
            writePending(closing: true)
            lingerThenClose(context: context)
        }
    }

    /// Closes the connection once what was written (a GOAWAY above all) has had time to reach the client: a client
    /// still sending (a flood, or requests crossing the GOAWAY) would otherwise have its unread data make our kernel
    /// answer with a TCP reset, which can discard the GOAWAY before the client reads it (seen as a flaky rapid-reset
    /// test). Meanwhile everything read is dropped (the phase is closed); a client that closes first ends it sooner.
    /// nginx calls this lingering close.
    private func lingerThenClose(context: ChannelHandlerContext) {
        guard context.channel.isActive, lingerTimer == nil else { return }
        if !inputOpen {
            context.close(promise: nil)
            return
        }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        lingerTimer = context.eventLoop.scheduleTask(in: settings.lingeringCloseTime) {
            handler.value.context?.close(promise: nil)
        }
    }

    private func startDrainTimer(context: ChannelHandlerContext) {
        guard drainTimer == nil else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        drainTimer = context.eventLoop.scheduleTask(in: settings.gracefulCloseTimeout) {
            handler.value.perform(handler.value.state.finish())
        }
    }

    /// Restarted whenever the last open stream closes; cancelled while a stream is open.
    private func armIdleTimer() {
        guard let context, state.acceptsRequests else { return }
        idleTimer?.cancel()
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: settings.idleTimeout) {
            let handler = handler.value
            guard handler.streams.isEmpty else { return }
            handler.perform(handler.state.quiesce(openStreams: 0))
        }
    }

    // MARK: writing

    /// Everything libnghttp2 has to send, in one buffer and one write; then, when libnghttp2 wants neither to read nor
    /// to write (GOAWAY exchanged, or a connection error answered), the connection closes.
    private func writePending(closing: Bool = false) {
        guard let session, let context, context.channel.isActive else { return }
        var out: ByteBuffer?
        inSession = true
        while true {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            if count < 0 {
                logger.debug("HTTP/2 session failed", metadata: [LogKey.errorMessage: .string(Self.errorText(Int32(truncatingIfNeeded: count)))])
                inSession = false
                if let out { context.writeAndFlush(wrapOutboundOut(out), promise: nil) }
                if !closing { perform(state.finish()) }
                return
            }
            guard count > 0, let data else { break }
            if out == nil { out = context.channel.allocator.buffer(capacity: max(count, 1024)) }
            out?.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
        }
        inSession = false
        if let out { context.writeAndFlush(wrapOutboundOut(out), promise: nil) }
        if !closing, nghttp2_session_want_read(session) == 0, nghttp2_session_want_write(session) == 0 {
            perform(state.finish())
        }
    }

    /// Answers submitted outside a read (from a task) leave together at the end of this event-loop tick.
    private func scheduleWrite() {
        guard !inSession, !flushScheduled, let context else { return }
        flushScheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            handler.value.flushScheduled = false
            handler.value.writePending()
        }
    }

    // MARK: answering

    /// Submits `answer` on `streamID` unless the stream is gone (reset by the client, or the connection closed).
    func answer(_ answer: HTTP2ServedAnswer, streamID: Int32) {
        guard let session, let stream = streams[streamID], !stream.answered else { return }
        stream.answered = true
        stream.readTimer?.cancel()
        stream.readTimer = nil
        stream.body = nil
        let sendsBody = !stream.isHead && answer.body.readableBytes > 0
        stream.answerBody = sendsBody ? answer.body : ByteBuffer()
        stream.trailers = answer.trailers
        // One scratch buffer per connection for the header block: no array of `String`s per answer.
        headerBlock.reset()
        headerBlock.add(":status", Self.statusText(answer.head.status.code))
        for field in answer.head.headerFields where !Self.isConnectionSpecific(field.name) {
            // traceparent differs on every answer: kept out of the HPACK table, where it would only push out entries
            // that are used again.
            headerBlock.add(field.name.canonicalName, field.value, noIndex: field.name == Self.traceparent)
        }
        if answer.head.headerFields[.date] == nil { headerBlock.add("date", HTTPDate.now()) }
        let hasData = sendsBody || answer.trailers != nil
        let result = headerBlock.withNameValues { nva, count in
            if hasData {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { _, streamID, buffer, length, flags, _, userData in
                    guard let buffer, let flags else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
                    return NGHTTP2ServerHandler.handler(userData).readBody(
                        streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buffer, count: length), flags: flags)
                }
                return nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
            return nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        if result != 0 {
            logger.debug("HTTP/2 answer not submitted", metadata: [LogKey.errorMessage: .string(Self.errorText(result))])
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_INTERNAL_ERROR.rawValue)
        }
        scheduleWrite()
    }

    /// A small JSON problem answer in the protocol's error shape (`{"error":…,"error_description":…}`).
    private func problem(_ status: HTTPResponse.Status, error: String, _ description: String, streamID: Int32) {
        var body = ByteBuffer()
        body.writeString(#"{"error":""#)
        body.writeString(error)
        body.writeString(#"","error_description":""#)
        body.writeString(Self.jsonEscaped(description))
        body.writeString(#""}"#)
        answer(
            HTTP2ServedAnswer(
                head: HTTPResponse(
                    status: status,
                    headerFields: [.contentType: "application/json", .cacheControl: "no-store", .contentLength: String(body.readableBytes)]),
                body: body),
            streamID: streamID)
    }

    private func dispatchIfComplete(_ streamID: Int32) {
        guard let stream = streams[streamID], stream.requestEnded, !stream.dispatched, let context else { return }
        stream.dispatched = true
        stream.readTimer?.cancel()
        stream.readTimer = nil
        if stream.headerListTooLarge {
            problem(
                .init(code: 431, reasonPhrase: "Request Header Fields Too Large"), error: "invalid_request",
                "the request's header list is over \(settings.maxHeaderListSize) bytes; send fewer or shorter headers", streamID: streamID)
            return
        }
        guard !stream.malformed, let method = stream.method, let path = stream.path, !path.isEmpty else {
            problem(.badRequest, error: "invalid_request", "the request's pseudo-headers (:method, :path) are missing or malformed", streamID: streamID)
            return
        }
        let body = stream.body ?? ByteBuffer()
        stream.body = nil
        let request = HTTP2ServedRequest(
            method: method, scheme: stream.scheme, authority: stream.authority, path: path, headers: stream.headers, body: body)
        stream.headers = HTTP2RequestHeaders()
        dispatch(
            request,
            HTTP2AnswerSink(handler: NIOLoopBound(self, eventLoop: context.eventLoop), streamID: streamID))
    }

    // MARK: libnghttp2 callbacks (on the event loop, from inside mem_recv / mem_send)

    fileprivate static func handler(_ userData: UnsafeMutableRawPointer?) -> NGHTTP2ServerHandler {
        Unmanaged<NGHTTP2ServerHandler>.fromOpaque(userData!).takeUnretainedValue()
    }

    private func beginHeaders(streamID: Int32) -> Int32 {
        guard state.acceptsRequests else {
            return 0  // beyond the GOAWAY's last stream: libnghttp2 refuses it
        }
        streams[streamID] = Stream()
        // Its read timer is armed after this read, and only if the request is still not whole then: most requests
        // arrive whole in one read, and a timer per request was a measurable share of one (perf, `make bench`).
        begunInThisRead.append(streamID)
        idleTimer?.cancel()
        idleTimer = nil
        return 0
    }

    /// Arms the read timer of each stream begun in the last read whose request is not whole yet (slowloris).
    private func armReadTimers() {
        guard !begunInThisRead.isEmpty else { return }
        defer { begunInThisRead.removeAll(keepingCapacity: true) }
        guard let context else { return }
        for streamID in begunInThisRead {
            guard let stream = streams[streamID], !stream.dispatched, stream.readTimer == nil else { continue }
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            stream.readTimer = context.eventLoop.scheduleTask(in: settings.requestReadTimeout) {
                handler.value.requestReadTimedOut(streamID)
            }
        }
    }

    private func requestReadTimedOut(_ streamID: Int32) {
        guard let stream = streams[streamID], !stream.dispatched else { return }
        guard stream.headersComplete else {
            // A header block cut in the middle: HTTP/2 allows no other frame until it ends, so the whole connection
            // waits on it. It goes: GOAWAY, then close.
            logger.debug("HTTP/2 header block not finished in time; closing the connection", metadata: [LogKey.http2StreamID: "\(streamID)"])
            if let session { _ = nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue) }
            writePending()
            perform(state.finish())
            return
        }
        stream.dispatched = true
        stream.readTimer = nil
        problem(.requestTimeout, error: "invalid_request", "the request was not read whole within \(settings.requestReadTimeout.nanoseconds / 1_000_000_000) s", streamID: streamID)
    }

    private func header(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = streams[streamID], !stream.dispatched else { return 0 }
        stream.headerBytes += name.count + value.count + 32
        if stream.headerBytes > settings.maxHeaderListSize {
            stream.headerListTooLarge = true
            stream.headers = HTTP2RequestHeaders()
            return 0
        }
        guard !stream.headerListTooLarge else { return 0 }
        if name.first == UInt8(ascii: ":") {
            let text = String(decoding: value, as: UTF8.self)
            switch String(decoding: name, as: UTF8.self) {
            case ":method":
                if let method = HTTPRequest.Method(text) { stream.method = method } else { stream.malformed = true }
            case ":scheme": stream.scheme = text
            case ":authority": stream.authority = text
            case ":path": stream.path = text
            default: break  // :protocol (extended CONNECT) is not used here
            }
        } else {
            stream.headers.append(name: name, value: value)
        }
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let type = UInt32(frame.pointee.hd.type)
        let streamID = frame.pointee.hd.stream_id
        let endStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        guard type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue, let stream = streams[streamID] else { return 0 }
        if type == NGHTTP2_HEADERS.rawValue { stream.headersComplete = true }
        if endStream { stream.requestEnded = true }
        if endStream { dispatchIfComplete(streamID) }
        return 0
    }

    private func dataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = streams[streamID], !stream.dispatched else { return 0 }
        let size = (stream.body?.readableBytes ?? 0) + data.count
        if size > settings.maximumBodySize {
            stream.dispatched = true
            stream.body = nil
            stream.readTimer?.cancel()
            stream.readTimer = nil
            problem(
                .contentTooLarge, error: "request_too_large",
                "the request body is over \(settings.maximumBodySize) bytes, the limit of this protocol; "
                    + "send a smaller JSON document (split a bulk change into several requests)", streamID: streamID)
            return 0
        }
        if stream.body == nil, let context { stream.body = context.channel.allocator.buffer(capacity: data.count) }
        stream.body?.writeBytes(data)
        return 0
    }

    private func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        // An answer finished before the whole request arrived (413, 431, 408): ask the client to stop sending
        // (RFC 9113 section 8.1), after the answer's last frame.
        let streamID = frame.pointee.hd.stream_id
        let endStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        guard endStream, let stream = streams[streamID], !stream.requestEnded, let session else { return 0 }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_NO_ERROR.rawValue)
        return 0
    }

    private func streamClosed(streamID: Int32) -> Int32 {
        if let stream = streams.removeValue(forKey: streamID) { stream.readTimer?.cancel() }
        if streams.isEmpty { armIdleTimer() }
        perform(state.streamClosed(openStreams: streams.count))
        return 0
    }

    private func readBody(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let count = min(buffer.count, stream.answerBody.readableBytes)
        if count > 0, let bytes = stream.answerBody.readSlice(length: count) {
            bytes.withUnsafeReadableBytes { buffer.copyMemory(from: $0) }
        }
        if stream.answerBody.readableBytes == 0 {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if let trailers = stream.trailers, let session {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                headerBlock.reset()
                for field in trailers where !Self.isConnectionSpecific(field.name) {
                    headerBlock.add(field.name.canonicalName, field.value)
                }
                _ = headerBlock.withNameValues { nghttp2_submit_trailer(session, streamID, $0, $1) }
                stream.trailers = nil
            }
        }
        return count
    }


    /// The session's callbacks (libnghttp2 copies them into the session).
    private static func makeCallbacks() -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame, UInt32(frame.pointee.hd.type) == NGHTTP2_HEADERS.rawValue,
                  frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
            return NGHTTP2ServerHandler.handler(userData).beginHeaders(streamID: frame.pointee.hd.stream_id)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame else { return 0 }
            return NGHTTP2ServerHandler.handler(userData).header(
                streamID: frame.pointee.hd.stream_id, name: UnsafeRawBufferPointer(start: name, count: nameLength),
                value: UnsafeRawBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            return NGHTTP2ServerHandler.handler(userData).frameReceived(frame)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            NGHTTP2ServerHandler.handler(userData).dataChunk(streamID: streamID, data: UnsafeRawBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            return NGHTTP2ServerHandler.handler(userData).frameSent(frame)
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, userData in
            NGHTTP2ServerHandler.handler(userData).streamClosed(streamID: streamID)
        }
        return callbacks
    }

    /// Session options: the protocol's flood limits, stated rather than left to defaults.
    private static func makeOptions() -> OpaquePointer? {
        var options: OpaquePointer?
        guard nghttp2_option_new(&options) == 0, let options else { return nil }
        // SETTINGS and PING floods: at most this many ACKs queued unsent (the client does not read) before GOAWAY.
        nghttp2_option_set_max_outbound_ack(options, 1000)
        // At most this many entries in one SETTINGS frame.
        nghttp2_option_set_max_settings(options, 32)
        // CONTINUATION flood (CVE-2024-27316 class): a header block in more frames than this is a connection error.
        nghttp2_option_set_max_continuations(options, 8)
        // Rapid reset (CVE-2023-44487): a burst of 1000 stream resets, then 33 per second, else GOAWAY.
        nghttp2_option_set_stream_reset_rate_limit(options, 1000, 33)
        // HPACK: the encoder's dynamic table stays at the default 4 KiB whatever the client allows.
        nghttp2_option_set_max_deflate_dynamic_table_size(options, 4096)
        return options
    }

    // MARK: helpers

    static func errorText(_ code: Int32) -> String {
        String(cString: nghttp2_strerror(code))
    }

    private static let traceparent = HTTPField.Name("traceparent")!

    private static func isConnectionSpecific(_ name: HTTPField.Name) -> Bool {
        switch name {
        case .connection, .transferEncoding, .upgrade, proxyConnection, keepAlive: true
        default: false
        }
    }

    private static let proxyConnection = HTTPField.Name("proxy-connection")!
    private static let keepAlive = HTTPField.Name("keep-alive")!

    private static let commonStatusTexts: [Int: String] = Dictionary(
        uniqueKeysWithValues: [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 431, 500, 502, 503, 504]
            .map { ($0, String($0)) })

    private static func statusText(_ code: Int) -> String {
        commonStatusTexts[code] ?? String(code)
    }

    private static func jsonEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Builds an `nghttp2_nv` array in reused storage: the bytes of every name and value in one array, then the array of
/// pointers into it (libnghttp2 copies both on submit, so the storage is free again right after).
struct HeaderBlockBuilder {
    private struct Span {
        var nameStart: Int
        var nameLength: Int
        var valueLength: Int
        var noIndex: Bool
    }

    private var storage: [UInt8] = []
    private var spans: [Span] = []
    private var nameValues: [nghttp2_nv] = []

    init() {
        storage.reserveCapacity(1024)
        spans.reserveCapacity(16)
        nameValues.reserveCapacity(16)
    }

    mutating func reset() {
        storage.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
    }

    mutating func add(_ name: String, _ value: String, noIndex: Bool = false) {
        let start = storage.count
        storage.append(contentsOf: name.utf8)
        let valueStart = storage.count
        storage.append(contentsOf: value.utf8)
        spans.append(Span(nameStart: start, nameLength: valueStart - start, valueLength: storage.count - valueStart, noIndex: noIndex))
    }

    /// Calls `body` with the name/value array; its pointers are valid only during the call.
    mutating func withNameValues(_ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        if storage.isEmpty { storage.append(0) }  // a base address exists even for an empty block
        let spans = self.spans
        var nameValues = self.nameValues
        self.nameValues = []
        defer {
            nameValues.removeAll(keepingCapacity: true)
            self.nameValues = nameValues
        }
        return storage.withUnsafeMutableBufferPointer { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return Int32(NGHTTP2_ERR_NOMEM.rawValue) }
            for span in spans {
                nameValues.append(nghttp2_nv(
                    name: base + span.nameStart, value: base + span.nameStart + span.nameLength, namelen: span.nameLength,
                    valuelen: span.valueLength,
                    flags: span.noIndex ? UInt8(NGHTTP2_NV_FLAG_NO_INDEX.rawValue) : UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return nameValues.withUnsafeBufferPointer { nva -> Int32 in
                guard let pointer = nva.baseAddress else {
                    var empty = nghttp2_nv()
                    return body(&empty, 0)
                }
                return body(pointer, nva.count)
            }
        }
    }
}
