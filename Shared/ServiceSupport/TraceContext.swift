import CPlatform

/// A W3C Trace Context (`traceparent`): `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
public struct TraceContext: Sendable, Equatable, CustomStringConvertible {
    public var traceID: String
    public var spanID: String
    public var flags: String

    public init(traceID: String, spanID: String, flags: String = "01") {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    /// A new trace with a random trace id and span id (from the thread's buffered random pool: no system call on most
    /// requests).
    public static func random() -> TraceContext {
        let hex = randomHexBytes(24)
        // Cut as bytes: `String.prefix` walks Characters (1.4 % of a kept-alive mTLS request, perf).
        return TraceContext(traceID: String(decoding: hex[0..<32], as: UTF8.self), spanID: String(decoding: hex[32..<48], as: UTF8.self))
    }

    /// The `traceparent` of a new trace (``random()``'s), made as one string: what the lean path sends when the caller
    /// sent none.
    public static func randomTraceparent() -> String {
        var value: [UInt8] = Array("00-".utf8)
        value.reserveCapacity(55)
        let hex = randomHexBytes(24)
        value += hex[0..<32]
        value.append(UInt8(ascii: "-"))
        value += hex[32..<48]
        value += Array("-01".utf8)
        return String(decoding: value, as: UTF8.self)
    }

    /// Parses a `traceparent` header; nil for a malformed one (which is then replaced, as the spec asks). Version
    /// `00` is exactly 55 bytes of lower-case hex and dashes with non-zero ids (W3C Trace Context §3.2.2); a higher
    /// version (not `ff`) is read by its version-00 prefix, followed by nothing or by `-` and more (§3.2.4, which
    /// swift-w3c-trace-context refuses: the one difference `TraceContextEquivalenceTests` allows).
    ///
    /// Read as bytes, without intermediate strings: it runs on every lean-path request that carries a trace
    /// (bench/README.md, "Trace context and base64"). Held to swift-w3c-trace-context by `TraceContextEquivalenceTests`.
    public init?(traceparent: String) {
        var header = traceparent
        guard let parsed = header.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> TraceContext? {
        let dash = UInt8(ascii: "-")
        guard bytes.count >= 55, bytes[2] == dash, bytes[35] == dash, bytes[52] == dash,
              isLowerHex(bytes, 0..<2), isLowerHex(bytes, 3..<35), isLowerHex(bytes, 36..<52), isLowerHex(bytes, 53..<55)
        else { return nil }
        let zero = UInt8(ascii: "0")
        let isVersion00 = bytes[0] == zero && bytes[1] == zero
        guard !(bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f")),
              isVersion00 ? bytes.count == 55 : (bytes.count == 55 || bytes[55] == dash),
              bytes[3..<35].contains(where: { $0 != zero }), bytes[36..<52].contains(where: { $0 != zero })
        else { return nil }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        return TraceContext(traceID: text(3..<35), spanID: text(36..<52), flags: text(53..<55))
    }

    private static func isLowerHex(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        for index in range {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): continue
            default: return false
            }
        }
        return true
    }

    /// The same trace with a new span id: what a service sends on its own outgoing calls.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, spanID: Self.randomHex(bytes: 8), flags: flags)
    }

    /// The header value.
    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags)" }
    public var description: String { traceparent }

    /// `bytes` random bytes as lower-case hex. One 64-bit draw per 8 bytes: a draw per byte cost 24 `getrandom` calls
    /// and as many small strings per request (6 % of a request in `make bench`'s profile).
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func randomHex(bytes: Int) -> String {
        String(decoding: randomHexBytes(bytes), as: UTF8.self)
    }

    private static func randomHexBytes(_ bytes: Int) -> [UInt8] {
        var random = [UInt8](repeating: 0, count: bytes)
        fillRandom(&random)
        let digits = hexDigits
        var out = [UInt8]()
        out.reserveCapacity(bytes * 2)
        for byte in random {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return out
    }

    /// From the thread's 4 KiB pool of kernel randomness (one `getrandom(2)` per ~170 trace ids; a call per request was
    /// a measurable share of it); the system generator when that call is unavailable or short. Trace and span ids
    /// are not secrets: they travel in `traceparent`.
    private static func fillRandom(_ buffer: inout [UInt8]) {
        let count = buffer.count
        let filled = buffer.withUnsafeMutableBytes { certauth_random_bytes_buffered($0.baseAddress, count) }
        guard filled != count else { return }
        var generator = SystemRandomNumberGenerator()
        for index in buffer.indices { buffer[index] = generator.next() }
    }
}
