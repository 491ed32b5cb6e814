/// The life of one HTTP/2 connection as the server sees it, apart from the frames (libnghttp2 keeps those): open,
/// then draining once the server shuts down (GOAWAY sent) or the client has closed its side, then closed. Pure value:
/// every event returns what the handler must do, so the rules are tested without a socket.
///
/// - `open`: requests are read and answered.
/// - `draining`: no new request is accepted; the requests in flight are answered; the connection closes when none is
///   left, or when the drain timer fires (a client that leaves a request unfinished does not hold the server).
/// - `closed`: the channel is being closed; nothing more is written.
public struct HTTP2ConnectionState: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case open
        /// `goAwaySent`: the server announced the end (shutdown); false when the client closed its side first.
        case draining(goAwaySent: Bool)
        case closed
    }

    /// What the handler does next.
    public enum Action: Sendable, Equatable {
        case none
        /// Send GOAWAY(NO_ERROR) naming the last stream accepted, and start the drain timer.
        case sendGoAwayAndStartDrainTimer
        /// Start the drain timer (the client closed its side: a GOAWAY would not be read).
        case startDrainTimer
        /// Send GOAWAY(NO_ERROR), write what is pending, then close the channel: nothing is in flight.
        case sendGoAwayAndClose
        /// Write what is pending, then close the channel.
        case close
    }

    public private(set) var phase: Phase = .open

    public init() {}

    public var acceptsRequests: Bool { phase == .open }

    /// The server is shutting down (`ChannelShouldQuiesceEvent`).
    public mutating func quiesce(openStreams: Int) -> Action {
        switch phase {
        case .open:
            guard openStreams > 0 else {
                phase = .closed
                return .sendGoAwayAndClose
            }
            phase = .draining(goAwaySent: true)
            return .sendGoAwayAndStartDrainTimer
        case .draining(goAwaySent: false):
            // Already draining because the client closed its side: no GOAWAY (nobody reads it), same timer.
            return openStreams == 0 ? closeNow() : .none
        case .draining, .closed:
            return .none
        }
    }

    /// The client closed its side of the connection (FIN or TLS close_notify): nothing more will arrive.
    public mutating func inputClosed(openStreams: Int) -> Action {
        switch phase {
        case .open:
            phase = .draining(goAwaySent: false)
            return openStreams == 0 ? closeNow() : .startDrainTimer
        case .draining:
            return openStreams == 0 ? closeNow() : .none
        case .closed:
            return .none
        }
    }

    /// A stream ended (answered, reset or refused); `openStreams` are left.
    public mutating func streamClosed(openStreams: Int) -> Action {
        guard case .draining = phase, openStreams == 0 else { return .none }
        return closeNow()
    }

    /// The drain timer fired, or the connection sat idle past its timeout, or libnghttp2 wants neither to read nor to
    /// write (a connection error was answered with GOAWAY, or both sides said GOAWAY).
    public mutating func finish() -> Action {
        guard phase != .closed else { return .none }
        return closeNow()
    }

    /// The channel went inactive.
    public mutating func channelClosed() {
        phase = .closed
    }

    private mutating func closeNow() -> Action {
        phase = .closed
        return .close
    }
}
