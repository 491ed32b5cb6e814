/// A message that writes its own JSON, byte for byte what `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]`
/// writes for it. For the answers on the hot paths (`/v2/authentication/me`, `/v1/token`, `/v1/resolve`):
/// `JSONEncoder`'s generic, existential machinery cost 8–9 % of a whole authn request (perf, `make bench`) for a
/// seven-member object. The equivalence is tested against `JSONEncoder` for every type that conforms.
public protocol DirectJSONEncodable: Encodable {
    /// The JSON text of `self`.
    func writeJSON(to writer: inout JSONTextWriter)
}

extension DirectJSONEncodable {
    /// `self` as UTF-8 JSON.
    public var directJSON: [UInt8] {
        var writer = JSONTextWriter()
        writeJSON(to: &writer)
        return writer.bytes
    }
}

/// Appends JSON text: objects with members written in the caller's order (callers write them sorted), strings escaped
/// as `JSONEncoder` escapes them (`"`, `\`, and control characters; `/` and non-ASCII left as they are).
public struct JSONTextWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// A member named `name` with a string value; nothing when `value` is nil (as `encodeIfPresent`).
    public mutating func member(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
        needsComma = true
    }

    public mutating func member(_ name: StaticString, _ value: Int) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    public mutating func member(_ name: StaticString, _ values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(value)
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// `value` as a JSON string literal (quotes included), escaped as every JSON text of the suite is escaped: the JSON
    /// log handler writes its lines with it, so there is one escaper.
    public static func quoted(_ value: String) -> String {
        var writer = JSONTextWriter(capacity: value.utf8.count + 2)
        writer.string(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `value` as a JSON string: the runs of bytes that need no escape are copied whole (an access token is one run
    /// of ~1-2 KB; byte by byte it was 8 % of token-issuer's `POST /v1/token`, perf).
    private mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            var runStart = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                escape(byte)
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            bytes.append(UInt8(ascii: "\""))
        }
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
        case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
        case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        default:
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            bytes.append(Self.hex[Int(byte >> 4)])
            bytes.append(Self.hex[Int(byte & 0x0F)])
        }
    }
}
