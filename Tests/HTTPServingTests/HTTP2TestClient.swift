import CNGHTTP2
import NIOCore
import NIOEmbedded

/// An HTTP/2 client on libnghttp2's client session, for driving ``NGHTTP2ServerHandler`` on an `EmbeddedChannel`:
/// it writes its frames into the channel and reads the server's back, recording what they mean.
final class HTTP2TestClient {
    struct Response {
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var ended = false
        var resetCode: UInt32?

        var status: Int? { headers.first { $0.0 == ":status" }.flatMap { Int($0.1) } }
        func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
    }

    private var session: OpaquePointer?
    private(set) var responses: [Int32: Response] = [:]
    private(set) var goAway: (lastStreamID: Int32, errorCode: UInt32)?
    /// Server writes seen (each a buffer the handler wrote).
    private(set) var serverWrites = 0
    private var bodies: [Int32: [UInt8]] = [:]
    /// The id the next request will get.
    private var nextStreamID: Int32 { Int32(nghttp2_session_get_next_stream_id(session)) }

    init() {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(userData!).takeUnretainedValue()
            let id = frame!.pointee.hd.stream_id
            client.responses[id, default: Response()].headers.append(
                (String(decoding: UnsafeRawBufferPointer(start: name, count: nameLength), as: UTF8.self),
                 String(decoding: UnsafeRawBufferPointer(start: value, count: valueLength), as: UTF8.self)))
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, userData in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(userData!).takeUnretainedValue()
            client.responses[id, default: Response()].body += UnsafeRawBufferPointer(start: data, count: length)
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(userData!).takeUnretainedValue()
            let header = frame!.pointee.hd
            if UInt32(header.type) == NGHTTP2_GOAWAY.rawValue {
                client.goAway = (frame!.pointee.goaway.last_stream_id, frame!.pointee.goaway.error_code)
            } else if UInt32(header.type) == NGHTTP2_RST_STREAM.rawValue {
                client.responses[header.stream_id, default: Response()].resetCode = frame!.pointee.rst_stream.error_code
            } else if UInt32(header.type) == NGHTTP2_HEADERS.rawValue || UInt32(header.type) == NGHTTP2_DATA.rawValue,
                      header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                client.responses[header.stream_id, default: Response()].ended = true
            }
            return 0
        }
        var session: OpaquePointer?
        nghttp2_session_client_new(&session, callbacks, Unmanaged.passUnretained(self).toOpaque())
        nghttp2_session_callbacks_del(callbacks)
        self.session = session
        nghttp2_submit_settings(session, 0, nil, 0)
    }

    deinit {
        nghttp2_session_del(session)
    }

    /// Submits a request; `body` nil: HEADERS with END_STREAM. `endStream` false leaves the body open.
    @discardableResult
    func request(method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) -> Int32 {
        let fields = [(":method", method), (":scheme", "https"), (":authority", "localhost"), (":path", path)] + headers
        let id: Int32
        if let body {
            bodies[nextStreamID] = body
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { _, id, buffer, length, flags, _, userData in
                let client = Unmanaged<HTTP2TestClient>.fromOpaque(userData!).takeUnretainedValue()
                var remaining = client.bodies[id] ?? []
                let count = min(length, remaining.count)
                remaining.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: buffer, count: count).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                remaining.removeFirst(count)
                client.bodies[id] = remaining
                if remaining.isEmpty { flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
                return count
            }
            id = Self.withNV(fields) { nghttp2_submit_request(session, nil, $0, $1, &provider, nil) }
        } else {
            id = Self.withNV(fields) { nghttp2_submit_request(session, nil, $0, $1, nil, nil) }
        }
        return id
    }

    /// Opens a stream whose body never ends: HEADERS, then one DATA frame without END_STREAM.
    func unfinishedRequest(path: String, firstChunk: [UInt8]) -> Int32 {
        let fields = [(":method", "POST"), (":scheme", "https"), (":authority", "localhost"), (":path", path)]
        // The body's provider hands out the first chunk, then defers for good: the stream stays open.
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil)) { _, id, buffer, length, _, _, userData in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(userData!).takeUnretainedValue()
            let remaining = client.bodies[id] ?? []
            guard !remaining.isEmpty else { return Int(NGHTTP2_ERR_DEFERRED.rawValue) }
            let count = min(length, remaining.count)
            remaining.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: buffer, count: count).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            client.bodies[id] = Array(remaining.dropFirst(count))
            return count
        }
        bodies[nextStreamID] = firstChunk
        let id = Self.withNV(fields) { nghttp2_submit_request(session, nil, $0, $1, &provider, nil) }
        return id
    }

    /// An `nghttp2_nv` array over `fields` for the length of `body` (libnghttp2 copies it on submit).
    private static func withNV(_ fields: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        var storage: [UInt8] = [0]
        var ranges: [(Int, Int, Int, Int)] = []
        for (name, value) in fields {
            let nameStart = storage.count
            storage += name.utf8
            let valueStart = storage.count
            storage += value.utf8
            ranges.append((nameStart, valueStart - nameStart, valueStart, storage.count - valueStart))
        }
        return storage.withUnsafeMutableBufferPointer { bytes in
            let nva = ranges.map { nghttp2_nv(name: bytes.baseAddress! + $0.0, value: bytes.baseAddress! + $0.2, namelen: $0.1, valuelen: $0.3, flags: 0) }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }

    func reset(_ stream: Int32) {
        nghttp2_submit_rst_stream(session, 0, stream, NGHTTP2_CANCEL.rawValue)
    }

    /// Everything the client has to send, as one buffer (the preface included on the first call).
    func pendingBytes() -> ByteBuffer {
        var out = ByteBuffer()
        while true {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            guard count > 0, let data else { break }
            out.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
        }
        return out
    }

    /// Sends what is pending into `channel`, then reads back every buffer the server wrote.
    func exchange(_ channel: EmbeddedChannel) throws {
        let bytes = pendingBytes()
        if bytes.readableBytes > 0 { try channel.writeInbound(bytes) }
        try readServer(channel)
    }

    /// Reads every buffer the server wrote.
    func readServer(_ channel: EmbeddedChannel) throws {
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            serverWrites += 1
            buffer.withUnsafeReadableBytes { bytes in
                _ = nghttp2_session_mem_recv(session, bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count)
            }
        }
    }
}
