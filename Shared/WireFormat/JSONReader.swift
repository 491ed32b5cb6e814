// MARK: - Strict JSON reader (RFC 8259) straight into JSONValue

/// Reads one JSON text (RFC 8259) from UTF-8 bytes straight into a ``JSONValue``: no `JSONSerialization`, no
/// `NSNumber`, no `Any`. It reads untrusted input (a JWS header is read before its signature is checked), so it never
/// traps, never recurses deeper than ``maximumDepth``, and allocates only the values it returns and a few scratch
/// buffers, all bounded by the input's length.
///
/// What it accepts, exactly:
/// - RFC 8259 grammar only: no trailing commas, comments, `NaN`/`Infinity`, single quotes, leading zeros or `+`;
///   whitespace is space, tab, LF and CR; anything after the value (other than that whitespace) is refused.
///   Any value may stand at the top level, as RFC 8259 allows.
/// - UTF-8 only, validated (overlong forms, encoded surrogates and bytes past U+10FFFF are refused); no byte order
///   mark, no UTF-16/UTF-32 detection. Control characters (U+0000–U+001F) must be escaped inside strings.
/// - Escapes: `\" \\ \/ \b \f \n \r \t \uXXXX`; a `\uXXXX` surrogate must be a high surrogate followed by a low one,
///   a lone or reversed surrogate is refused.
/// - Numbers become `Double`, correctly rounded (integers up to 19 digits exactly through `UInt64`, short decimals
///   through an exact product or quotient, the rest through the standard library's locale-independent parser); a
///   number too large for a `Double` (`1e400`) is refused, one too small becomes 0 or a subnormal.
/// - Duplicate member names in one object are refused (names compare as `Dictionary` keys do: escapes resolved,
///   canonically equivalent strings equal). RFC 7515 §4 lets a JWS parser either refuse them or keep the last;
///   refusing means no two readers (ours, the IdP's, a gateway's) can disagree on which `alg`, `kid`, `iss` or `aud`
///   a token carries.
/// - Objects and arrays nest at most ``maximumDepth`` levels.
///
/// `JSONSerialization` differs on: trailing commas (it accepts them), a byte order mark and UTF-16/32 input (it
/// detects them), duplicate names (it keeps the last; `JSONDecoder` keeps the first), and its nesting limit (512).
public enum JSONReader {
    /// Objects and arrays nested deeper than this are refused (a hostile document cannot exhaust the stack).
    public static let maximumDepth = 64

    /// Why a document was refused (tests and diagnostics; callers see nil).
    enum Failure: Error, Equatable {
        /// Not JSON at this byte offset (including truncated input and trailing data).
        case syntax(at: Int)
        /// Invalid UTF-8 in a string, or an unpaired surrogate escape.
        case invalidText(at: Int)
        /// A number outside the range of `Double`.
        case numberOutOfRange(at: Int)
        /// The same member name twice in one object.
        case duplicateMember(String)
        /// Nested deeper than ``JSONReader/maximumDepth``.
        case tooDeep
    }

    /// The value of the JSON text in `bytes`, or nil when `bytes` is not exactly one JSON text (see the type's
    /// documentation for the rules).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> JSONValue? {
        try? parseDetailed(bytes).get()
    }

    /// The value of the JSON text in `bytes`; nil when it is not one.
    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// The members of the JSON object in `bytes`; nil when `bytes` is not a JSON object.
    public static func object(_ bytes: UnsafeRawBufferPointer) -> [String: JSONValue]? {
        guard case .object(let members)? = parse(bytes) else { return nil }
        return members
    }

    /// The members of the JSON object in `bytes`; nil when `bytes` is not a JSON object.
    public static func object(_ bytes: [UInt8]) -> [String: JSONValue]? {
        bytes.withUnsafeBytes { object($0) }
    }

    /// The value, or why `bytes` is not JSON.
    static func parseDetailed(_ bytes: UnsafeRawBufferPointer) -> Result<JSONValue, Failure> {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .failure(.syntax(at: 0)) }
        var reader = Reader(base: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        return Result { () throws(Failure) in try reader.document() }
    }

    static func parseDetailed(_ bytes: [UInt8]) -> Result<JSONValue, Failure> {
        bytes.withUnsafeBytes { parseDetailed($0) }
    }
}

// MARK: - Selected members

extension JSONReader {
    /// Member names to pick out of JSON objects with ``members(_:named:)``, prepared once (the claims a token
    /// validator reads, say).
    public struct MemberNames: Sendable {
        /// The names, in the order ``JSONReader/members(_:named:)`` answers; a name may repeat.
        public let names: [String]
        /// For each name, the index of its first occurrence.
        let first: [Int]
        /// For each ASCII name: its length and its first 8 bytes packed (little-endian), for matching raw member
        /// names without making strings; nil for the others.
        let keys: [(count: Int, packed: UInt64)?]
        let hasNonASCII: Bool

        public init(_ names: [String]) {
            self.names = names
            first = names.indices.map { index in names.firstIndex(of: names[index]) ?? index }
            keys = names.map { name in
                let bytes = Array(name.utf8)
                guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
                return bytes.withUnsafeBufferPointer { (bytes.count, MemberNames.pack($0)) }
            }
            hasNonASCII = keys.contains { $0 == nil }
        }

        static func pack(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
            var packed: UInt64 = 0
            for index in 0..<min(8, bytes.count) {
                packed |= UInt64(bytes[index]) << (8 &* UInt64(index))
            }
            return packed
        }

        /// The index of the name spelled by `raw` (bytes of an ASCII member name without escapes), if any.
        func index(ascii raw: UnsafeBufferPointer<UInt8>) -> Int? {
            let packed = Self.pack(raw)
            for index in keys.indices where first[index] == index {
                guard let key = keys[index], key.count == raw.count, key.packed == packed else { continue }
                if raw.count <= 8 || names[index].utf8.elementsEqual(raw) { return index }
            }
            // A non-ASCII name can still equal an ASCII one as a String (canonical equivalence, e.g. U+037E and ";").
            return hasNonASCII ? index(String(decoding: raw, as: UTF8.self)) : nil
        }

        /// The index of `name`, compared as `Dictionary` keys compare.
        func index(_ name: String) -> Int? {
            names.indices.first { first[$0] == $0 && names[$0] == name }
        }
    }

    /// The values of `names` in the JSON object in `bytes` (nil where a name is absent), or nil when `bytes` is not a
    /// JSON object. Accepts exactly the documents ``object(_:)`` accepts (duplicate names anywhere, depth, text,
    /// numbers), but makes only the selected values: the other members are checked and skipped, and no dictionary
    /// is built. A token's checks read a dozen claims; building the dictionary of all of them cost as much as
    /// reading the JSON.
    public static func members(_ bytes: UnsafeRawBufferPointer, named names: MemberNames) -> [JSONValue?]? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        var reader = Reader(base: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        return try? reader.selectedMembers(names)
    }

    /// The values of `names` in the JSON object in `bytes` (nil where absent), or nil when `bytes` is not a JSON
    /// object; as the variant over a raw buffer.
    public static func members(_ bytes: [UInt8], named names: MemberNames) -> [JSONValue?]? {
        bytes.withUnsafeBytes { members($0, named: names) }
    }
}

// MARK: - Reader

extension JSONReader {
    /// A cursor over the input. Every read goes through `peek()`, which answers 0 at the end: NUL is never valid
    /// outside a string and refused inside one, so the end of the input needs no separate case.
    fileprivate struct Reader {
        let base: UnsafePointer<UInt8>
        let count: Int
        var index = 0
        var depth = 0
        /// Bytes of the string being unescaped (reused, so only the first escaped string allocates).
        var scratch: [UInt8] = []
        /// Members of the objects being read, innermost last: each object becomes a dictionary of exactly its size
        /// (no growing and rehashing), and this one array is reused for all of them.
        var pendingMembers: [(String, JSONValue)] = []
        /// Elements of the arrays being read, innermost last (as `pendingMembers`).
        var pendingElements: [JSONValue] = []

        init(base: UnsafePointer<UInt8>, count: Int) {
            self.base = base
            self.count = count
        }

        @inline(__always)
        func peek() -> UInt8 {
            index < count ? base[index] : 0
        }

        /// Whether the byte at `index` is an ASCII digit (false at the end).
        @inline(__always)
        func atDigit() -> Bool {
            index < count && base[index] &- UInt8(ascii: "0") < 10
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while index < count {
                switch base[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func document() throws(Failure) -> JSONValue {
            let value = try self.value()
            skipWhitespace()
            guard index == count else { throw .syntax(at: index) }
            return value
        }

        mutating func value() throws(Failure) -> JSONValue {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw .syntax(at: index)
            }
        }

        mutating func literal(_ text: StaticString, _ value: JSONValue) throws(Failure) -> JSONValue {
            let length = text.utf8CodeUnitCount
            guard count - index >= length else { throw .syntax(at: index) }
            let expected = text.utf8Start
            for offset in 0..<length where base[index + offset] != expected[offset] {
                throw .syntax(at: index + offset)
            }
            index += length
            return value
        }

        // MARK: Containers

        mutating func object() throws(Failure) -> JSONValue {
            depth += 1
            guard depth <= JSONReader.maximumDepth else { throw .tooDeep }
            defer { depth -= 1 }
            index += 1  // {
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return .object([:])
            }
            if pendingMembers.capacity == 0 { pendingMembers.reserveCapacity(24) }  // a token's claims: one allocation
            let first = pendingMembers.count
            defer { pendingMembers.removeSubrange(first...) }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw .syntax(at: index) }
                let name = try string()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw .syntax(at: index) }
                index += 1
                pendingMembers.append((name, try value()))
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","):
                    index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    var members = [String: JSONValue](minimumCapacity: pendingMembers.count - first)
                    for (name, member) in pendingMembers[first...] {
                        guard members.updateValue(member, forKey: name) == nil else { throw .duplicateMember(name) }
                    }
                    return .object(members)
                default:
                    throw .syntax(at: index)
                }
            }
        }

        mutating func array() throws(Failure) -> JSONValue {
            depth += 1
            guard depth <= JSONReader.maximumDepth else { throw .tooDeep }
            defer { depth -= 1 }
            index += 1  // [
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return .array([])
            }
            let first = pendingElements.count
            defer { pendingElements.removeSubrange(first...) }
            while true {
                pendingElements.append(try value())
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","):
                    index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(Array(pendingElements[first...]))
                default:
                    throw .syntax(at: index)
                }
            }
        }

        // MARK: Selected members

        /// The whole document, an object, with only the members in `names` made into values.
        mutating func selectedMembers(_ names: MemberNames) throws(Failure) -> [JSONValue?] {
            skipWhitespace()
            guard peek() == UInt8(ascii: "{") else { throw .syntax(at: index) }
            depth = 1
            index += 1
            var values = [JSONValue?](repeating: nil, count: names.names.count)
            /// Names not selected, kept only to refuse duplicates among them.
            var others: [String] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    guard peek() == UInt8(ascii: "\"") else { throw .syntax(at: index) }
                    let slot: Int?
                    if let raw = plainName() {
                        slot = names.index(ascii: raw)
                        if slot == nil { others.append(String(decoding: raw, as: UTF8.self)) }
                    } else {
                        let name = try string()
                        slot = names.index(name)
                        if slot == nil { others.append(name) }
                    }
                    skipWhitespace()
                    guard peek() == UInt8(ascii: ":") else { throw .syntax(at: index) }
                    index += 1
                    if let slot {
                        guard values[slot] == nil else { throw .duplicateMember(names.names[slot]) }
                        values[slot] = try value()
                    } else {
                        try skipValue()
                    }
                    skipWhitespace()
                    let separator = peek()
                    index += 1
                    if separator == UInt8(ascii: "}") { break }
                    guard separator == UInt8(ascii: ",") else { throw .syntax(at: index - 1) }
                }
            }
            skipWhitespace()
            guard index == count else { throw .syntax(at: index) }
            if let duplicate = Self.firstDuplicate(others) { throw .duplicateMember(duplicate) }
            for slot in values.indices where names.first[slot] != slot {
                values[slot] = values[names.first[slot]]
            }
            return values
        }

        /// A name that needs no unescaping or validation (printable ASCII, no backslash): its bytes, with `index` moved
        /// past its closing quote; nil (and `index` unchanged, at the opening quote) otherwise.
        mutating func plainName() -> UnsafeBufferPointer<UInt8>? {
            var end = index + 1
            while end < count {
                let byte = base[end]
                if byte == UInt8(ascii: "\"") {
                    let name = UnsafeBufferPointer(start: base + index + 1, count: end - index - 1)
                    index = end + 1
                    return name
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { return nil }
                end += 1
            }
            return nil
        }

        /// The first name that occurs twice, compared as `Dictionary` keys compare.
        static func firstDuplicate(_ names: [String]) -> String? {
            if names.count <= 16 {
                for index in names.indices.dropFirst() where names[..<index].contains(names[index]) {
                    return names[index]
                }
                return nil
            }
            var seen = Set<String>(minimumCapacity: names.count)
            return names.first { !seen.insert($0).inserted }
        }

        /// Reads a value as `value()` would, accepting and refusing the same text, without making it when that
        /// can be avoided (plain strings, numbers, literals).
        mutating func skipValue() throws(Failure) {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "\""):
                if plainName() == nil { _ = try string() }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                _ = try number()
            default:
                _ = try value()  // objects, arrays, literals, and errors
            }
        }

        // MARK: Strings

        /// A string; `index` is at its opening quote.
        mutating func string() throws(Failure) -> String {
            index += 1  // "
            let start = index
            var ascii = true
            while index < count {
                let byte = base[index]
                if byte == UInt8(ascii: "\"") {
                    let bytes = UnsafeBufferPointer(start: base + start, count: index - start)
                    index += 1
                    if ascii { return String(decoding: bytes, as: UTF8.self) }
                    guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidText(at: start) }
                    return text
                }
                if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
                if byte < 0x20 { throw .syntax(at: index) }
                if byte >= 0x80 { ascii = false }
                index += 1
            }
            throw .syntax(at: index)
        }

        /// The rest of a string with escapes; `start` is its first byte, `index` at its first backslash.
        mutating func escapedString(from start: Int) throws(Failure) -> String {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
            while index < count {
                let byte = base[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    // Raw bytes and the UTF-8 written for escapes are validated together: an escape always writes
                    // whole scalars, so a broken raw sequence next to one stays broken.
                    guard let text = String(validating: scratch, as: UTF8.self) else { throw .invalidText(at: start) }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    let escape = peek()
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
                    case UInt8(ascii: "b"): scratch.append(0x08)
                    case UInt8(ascii: "f"): scratch.append(0x0C)
                    case UInt8(ascii: "n"): scratch.append(0x0A)
                    case UInt8(ascii: "r"): scratch.append(0x0D)
                    case UInt8(ascii: "t"): scratch.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { throw .invalidText(at: index) }
                        appendUTF8(scalar)
                    default:
                        throw .syntax(at: index - 1)
                    }
                case 0..<0x20:
                    throw .syntax(at: index)
                default:
                    scratch.append(byte)
                    index += 1
                }
            }
            throw .syntax(at: index)
        }

        /// The scalar of `XXXX` (and of a following `\uXXXX` low surrogate when `XXXX` is a high one); `index` is
        /// just after the `u`. Nil for bad hex digits or an unpaired surrogate.
        mutating func unicodeEscape() -> UInt32? {
            guard let first = hex4() else { return nil }
            switch first {
            case 0xD800...0xDBFF:
                guard peek() == UInt8(ascii: "\\") else { return nil }
                index += 1
                guard peek() == UInt8(ascii: "u") else { return nil }
                index += 1
                guard let second = hex4(), (0xDC00...0xDFFF).contains(second) else { return nil }
                return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            case 0xDC00...0xDFFF:
                return nil
            default:
                return first
            }
        }

        mutating func hex4() -> UInt32? {
            guard count - index >= 4 else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = base[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// Appends `scalar` (at most 0x10FFFF, never a surrogate: `unicodeEscape` guarantees both) as UTF-8.
        mutating func appendUTF8(_ scalar: UInt32) {
            switch scalar {
            case 0..<0x80:
                scratch.append(UInt8(truncatingIfNeeded: scalar))
            case 0x80..<0x800:
                scratch.append(UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6))
                scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
            case 0x800..<0x10000:
                scratch.append(UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12))
                scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
                scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
            default:
                scratch.append(UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18))
                scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F))
                scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
                scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
            }
        }

        // MARK: Numbers

        /// Exact powers of ten as Doubles (10^22 is the largest that is).
        static let powersOfTen: [Double] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            1e19, 1e20, 1e21, 1e22,
        ]

        /// A number per RFC 8259 §6; `index` is at its first byte.
        mutating func number() throws(Failure) -> Double {
            let start = index
            let negative = peek() == UInt8(ascii: "-")
            if negative { index += 1 }
            // Significant digits go into `mantissa` while at most 19 (exact in UInt64); `digits` counts them all,
            // `scale` is how many of them (and of the fraction's leading zeros) follow the decimal point.
            var mantissa: UInt64 = 0
            var digits = 0
            var scale = 0
            if peek() == UInt8(ascii: "0") {
                index += 1
            } else if atDigit() {
                while atDigit() {
                    if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(base[index] &- UInt8(ascii: "0")) }
                    digits += 1
                    index += 1
                }
            } else {
                throw .syntax(at: index)
            }
            if peek() == UInt8(ascii: ".") {
                index += 1
                guard atDigit() else { throw .syntax(at: index) }
                while atDigit() {
                    let digit = base[index] &- UInt8(ascii: "0")
                    if digits == 0, digit == 0 {
                        scale += 1  // a leading zero of 0.000123: scale only
                    } else {
                        if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(digit) }
                        digits += 1
                        scale += 1
                    }
                    index += 1
                }
            }
            var exponent = false
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                exponent = true
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard atDigit() else { throw .syntax(at: index) }
                while atDigit() { index += 1 }
            }
            if !exponent, digits <= 19 {
                if scale == 0 {
                    // An integer below 10^19: exact in UInt64, and the conversion to Double rounds correctly.
                    let value = Double(mantissa)
                    return negative ? -value : value
                }
                if mantissa < 1 << 53, scale <= 22 {
                    // Both operands exact, one IEEE division: correctly rounded (Clinger's fast path).
                    let value = Double(mantissa) / Self.powersOfTen[scale]
                    return negative ? -value : value
                }
            }
            // Exponents, long mantissas: the standard library's parser (strtod in the C locale), correctly rounded.
            let text = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw .numberOutOfRange(at: start) }
            return value
        }
    }
}
