import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// Runs a connection's request handling on the connection's own event loop.
///
/// Hummingbird handles every HTTP/2 stream in a task on Swift's global concurrent executor: the request head, the
/// response and the end of the stream each cross between the NIO event-loop thread and a cooperative-pool thread, a
/// thread wake-up each time. Measured with `make bench` (perf), that hand-off cost more than the TLS, the HTTP/2
/// framing and the token check together. With this wrapper the connection's task prefers its event loop as task
/// executor (SE-0417); the stream tasks Hummingbird starts in its task group inherit the preference, and default
/// actors called from them run there too, so a request that does not wait on I/O is handled start to finish on the
/// thread that read it. Awaiting I/O (roles, token-issuer, the IdP, PostgreSQL) still suspends and frees the loop.
///
/// Handlers must therefore not block: CPU work of a request (an RSA signature check, a few hundred µs at most) is
/// fine, as it is in nginx's workers; blocking calls are not (none of the services' routes make one: SQLite runs on
/// GRDB's own queue, files are read at start-up and on reload in detached tasks).
///
/// `SERVER_HANDLERS_ON_EVENT_LOOP=false` turns the binding off (`bindToEventLoop`): then the event loops do only I/O.
/// That suits a process hosting several services on the same loops, like the in-process tests, where debug builds'
/// handler work on the loops was seen to hold back other connections' connects for over 10 s.
struct EventLoopBoundChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let bindToEventLoop: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let value = inner.setup(channel: channel, logger: logger)
        do {
            // Right above TLS (the inner setup added the TLS handler synchronously; HTTP/2 comes after the handshake):
            // application flushes of all streams are coalesced, the handshake's own flushes are not delayed.
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            try channel.pipeline.syncOperations.addHandler(CoalescingFlushHandler(), position: .after(tls))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return value
    }

    func handle(value: Value, logger: Logger) async {
        guard bindToEventLoop else {
            await inner.handle(value: value, logger: logger)
            return
        }
        await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: value.channel.eventLoop)) {
            await inner.handle(value: value, logger: logger)
        }
    }
}

/// A NIO event loop as a Swift task executor: jobs run on the loop's thread, in the order they are enqueued.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

/// Turns the flushes of one event-loop tick into one. Each HTTP/2 stream's task writes and flushes its response on its
/// own, after the read that brought the requests is over (so swift-nio-http2's own read-loop coalescing does not
/// apply): 64 concurrent streams meant 64 `write` syscalls. A flush here is instead deferred to a task queued behind the
/// stream tasks already queued on the loop; the writes in between leave in one `writev`. Closing flushes first.
final class CoalescingFlushHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            guard handler.flushScheduled else { return }
            handler.flushScheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushScheduled {
            flushScheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}

extension HTTPServerBuilder {
    /// `inner`'s child channel (Hummingbird's HTTP/2-with-HTTP/1.1 server) with flushes coalesced per loop tick and,
    /// when `handlersOnEventLoop`, request handling bound to each connection's event loop (``EventLoopBoundChildChannel``).
    static func coalescingFlushes(
        handlersOnEventLoop: Bool,
        _ make: @escaping @Sendable (@escaping HTTPChannelHandler.Responder) throws -> some ServerChildChannel
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            EventLoopBoundChildChannel(inner: try make(responder), bindToEventLoop: handlersOnEventLoop)
        }
    }
}
