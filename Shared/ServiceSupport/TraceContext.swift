import CPlatform
import Foundation

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

    /// Parses a `traceparent` header; nil for a malformed one (which is then replaced, as the spec asks).
    public init?(traceparent: String) {
        let parts = traceparent.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff",
              parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) }),
              parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16)
        else { return nil }
        self.init(traceID: parts[1].lowercased(), spanID: parts[2].lowercased(), flags: parts[3].lowercased())
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
