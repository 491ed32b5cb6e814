import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import HTTPServing

/// The libnghttp2 server handler on an `EmbeddedChannel`, driven by a libnghttp2 client session: answers, batching,
/// limits, and the connection's life (GOAWAY on shutdown, drain, idle and read timeouts). The same server over real TLS
/// sockets is exercised by every live test and by `Tests/Interop/test_h2.py` (hyper-h2).
@Suite struct NGHTTP2ServerHandlerTests {
    /// A server whose application answers `/sync` at once and keeps every other request's sink for the test.
    final class Application {
        var pending: [(HTTP2ServedRequest, HTTP2AnswerSink)] = []

        func dispatch(_ request: HTTP2ServedRequest, _ sink: HTTP2AnswerSink) {
            if request.head.path == "/sync" {
                sink(Self.answer("sync \(request.body.readableBytes)"))
            } else {
                pending.append((request, sink))
            }
        }

        static func answer(_ text: String, status: HTTPResponse.Status = .ok) -> HTTP2ServedAnswer {
            HTTP2ServedAnswer(
                head: HTTPResponse(status: status, headerFields: [.contentType: "text/plain", .contentLength: String(text.utf8.count)]),
                body: ByteBuffer(string: text))
        }
    }

    static func server(_ settings: HTTP2ServerSettings = HTTP2ServerSettings()) throws -> (EmbeddedChannel, Application) {
        let application = Application()
        let handler = NGHTTP2ServerHandler(settings: settings, logger: Logger(label: "test")) { application.dispatch($0, $1) }
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(handler)
        return (channel, application)
    }

    @Test func synchronousAnswerWithDateAndLength() throws {
        let (channel, _) = try Self.server()
        let client = HTTP2TestClient()
        let stream = client.request(path: "/sync")
        try client.exchange(channel)
        let response = try #require(client.responses[stream])
        #expect(response.status == 200)
        #expect(response.ended)
        #expect(String(decoding: response.body, as: UTF8.self) == "sync 0")
        #expect(response.header("content-length") == "6")
        #expect(response.header("date")?.hasSuffix(" GMT") == true)
    }

    @Test func requestBodyAndHeadersReachTheApplication() throws {
        let (channel, application) = try Self.server()
        let client = HTTP2TestClient()
        let stream = client.request(method: "POST", path: "/later?x=1", headers: [("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")], body: Array("{\"a\":1}".utf8))
        try client.exchange(channel)
        let (request, sink) = try #require(application.pending.first)
        #expect(request.head.method == .post)
        #expect(request.head.path == "/later?x=1")
        #expect(request.head.authority == "localhost")
        #expect(request.head.headerFields[.contentType] == "application/json")
        #expect(request.head.headerFields[values: HTTPField.Name("x-a")!] == ["1", "2"])
        #expect(String(buffer: request.body) == "{\"a\":1}")
        sink(Application.answer("later"))
        channel.embeddedEventLoop.run()
        try client.readServer(channel)
        #expect(client.responses[stream]?.status == 200)
        #expect(client.responses[stream]?.body == Array("later".utf8))
    }

    /// Answers given in one event-loop tick leave in one write (one TLS record for many answers).
    @Test func answersOfOneTickLeaveInOneWrite() throws {
        let (channel, application) = try Self.server()
        let client = HTTP2TestClient()
        let streams = (0..<16).map { client.request(path: "/later/\($0)") }
        try client.exchange(channel)
        #expect(application.pending.count == 16)
        let before = client.serverWrites
        for (index, (_, sink)) in application.pending.enumerated() { sink(Application.answer("answer \(index)")) }
        channel.embeddedEventLoop.run()
        try client.readServer(channel)
        #expect(client.serverWrites - before == 1)
        for (index, stream) in streams.enumerated() {
            #expect(client.responses[stream]?.body == Array("answer \(index)".utf8))
        }
    }

    @Test func bodyOverTheLimitIs413ThenResetAndTheConnectionLivesOn() throws {
        var settings = HTTP2ServerSettings()
        settings.maximumBodySize = 1000
        let (channel, _) = try Self.server(settings)
        let client = HTTP2TestClient()
        let stream = client.unfinishedRequest(path: "/sync", firstChunk: Array(repeating: 0x20, count: 1001))
        try client.exchange(channel)
        let response = try #require(client.responses[stream])
        #expect(response.status == 413)
        #expect(String(decoding: response.body, as: UTF8.self).contains("request_too_large"))
        #expect(response.resetCode == 0)  // RST_STREAM(NO_ERROR): stop sending
        let next = client.request(method: "POST", path: "/sync", body: Array(repeating: 0x20, count: 1000))
        try client.exchange(channel)
        #expect(client.responses[next]?.status == 200)
        #expect(client.goAway == nil)
    }

    @Test func headerListOverTheLimitIs431() throws {
        var settings = HTTP2ServerSettings()
        settings.maxHeaderListSize = 2048
        let (channel, application) = try Self.server(settings)
        let client = HTTP2TestClient()
        let stream = client.request(path: "/later", headers: (0..<40).map { ("x-filler-\($0)", String(repeating: "v", count: 60)) })
        try client.exchange(channel)
        #expect(application.pending.isEmpty)
        #expect(client.responses[stream]?.status == 431)
    }

    @Test func quiesceSendsGoAwayFinishesInFlightAnswersThenCloses() throws {
        let (channel, application) = try Self.server()
        let client = HTTP2TestClient()
        let stream = client.request(path: "/later")
        try client.exchange(channel)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try client.readServer(channel)
        #expect(client.goAway?.lastStreamID == stream)
        #expect(client.goAway?.errorCode == 0)
        #expect(channel.isActive)
        application.pending[0].1(Application.answer("last"))
        channel.embeddedEventLoop.run()
        try client.readServer(channel)
        #expect(client.responses[stream]?.body == Array("last".utf8))
        // Lingering close: the client may still be sending; it gets time to read the GOAWAY before the close.
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: HTTP2ServerSettings().lingeringCloseTime)
        #expect(!channel.isActive)
    }

    @Test func drainTimerClosesAConnectionWhoseRequestNeverFinishes() throws {
        let (channel, _) = try Self.server()
        let client = HTTP2TestClient()
        _ = client.unfinishedRequest(path: "/later", firstChunk: Array("{".utf8))
        try client.exchange(channel)
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try client.readServer(channel)
        #expect(client.goAway != nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(19))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func idleConnectionIsClosedWithGoAway() throws {
        var settings = HTTP2ServerSettings()
        settings.idleTimeout = .seconds(10)
        let (channel, _) = try Self.server(settings)
        let client = HTTP2TestClient()
        client.request(path: "/sync")
        try client.exchange(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        try client.readServer(channel)
        #expect(client.goAway?.errorCode == 0)
        #expect(!channel.isActive)
    }

    @Test func slowRequestIsAnswered408() throws {
        var settings = HTTP2ServerSettings()
        settings.requestReadTimeout = .seconds(5)
        let (channel, application) = try Self.server(settings)
        let client = HTTP2TestClient()
        let stream = client.unfinishedRequest(path: "/later", firstChunk: Array("{".utf8))
        try client.exchange(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        try client.readServer(channel)
        #expect(application.pending.isEmpty)
        #expect(client.responses[stream]?.status == 408)
        #expect(client.responses[stream]?.resetCode == 0)
    }

    @Test func clientResetForgetsTheStreamAndALateAnswerIsDropped() throws {
        let (channel, application) = try Self.server()
        let client = HTTP2TestClient()
        let stream = client.request(path: "/later")
        try client.exchange(channel)
        client.reset(stream)
        try client.exchange(channel)
        application.pending[0].1(Application.answer("too late"))
        channel.embeddedEventLoop.run()
        try client.readServer(channel)
        #expect(client.responses[stream]?.status == nil)
        let next = client.request(path: "/sync")
        try client.exchange(channel)
        #expect(client.responses[next]?.status == 200)
    }

    @Test func garbageIsAConnectionErrorAndCloses() throws {
        let (channel, _) = try Self.server()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        channel.embeddedEventLoop.run()
        // What follows is read and dropped until the lingering close, or until the client closes its side.
        try channel.writeInbound(ByteBuffer(string: "more garbage"))
        #expect(channel.isActive)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!channel.isActive)
    }
}

@Suite struct HTTP2ConnectionStateTests {
    @Test func quiesceWithStreamsDrainsThenClosesOnTheLast() {
        var state = HTTP2ConnectionState()
        #expect(state.quiesce(openStreams: 2) == .sendGoAwayAndStartDrainTimer)
        #expect(!state.acceptsRequests)
        #expect(state.quiesce(openStreams: 2) == .none)
        #expect(state.streamClosed(openStreams: 1) == .none)
        #expect(state.streamClosed(openStreams: 0) == .close)
        #expect(state.phase == .closed)
        #expect(state.finish() == .none)
    }

    @Test func quiesceWhenIdleSaysGoAwayAndCloses() {
        var state = HTTP2ConnectionState()
        #expect(state.quiesce(openStreams: 0) == .sendGoAwayAndClose)
        #expect(state.phase == .closed)
    }

    @Test func inputClosedDrainsWithoutGoAway() {
        var state = HTTP2ConnectionState()
        #expect(state.inputClosed(openStreams: 1) == .startDrainTimer)
        #expect(state.phase == .draining(goAwaySent: false))
        #expect(state.quiesce(openStreams: 1) == .none)
        #expect(state.streamClosed(openStreams: 0) == .close)
    }

    @Test func inputClosedWhenIdleCloses() {
        var state = HTTP2ConnectionState()
        #expect(state.inputClosed(openStreams: 0) == .close)
    }

    @Test func streamsClosingWhileOpenDoNothing() {
        var state = HTTP2ConnectionState()
        #expect(state.streamClosed(openStreams: 0) == .none)
        #expect(state.acceptsRequests)
    }

    @Test func drainTimerAndSessionEndClose() {
        var state = HTTP2ConnectionState()
        _ = state.quiesce(openStreams: 3)
        #expect(state.finish() == .close)
        var other = HTTP2ConnectionState()
        #expect(other.finish() == .close)
        other.channelClosed()
        #expect(other.finish() == .none)
    }
}
