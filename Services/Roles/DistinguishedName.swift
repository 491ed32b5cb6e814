import WireFormat

/// An X.500 distinguished name parsed from its RFC 4514 string, for comparing subjects attribute by attribute.
///
/// Attribute names are canonicalised (case-insensitive; `E`, `EMAIL`, `EMAILADDRESS`, OpenSSL's `emailAddress` and
/// the OID 1.2.840.113549.1.9.1 are one attribute), values are unescaped and trimmed of unescaped spaces and then
/// compared exactly. RDN order matters (RFC 4514 order: most specific first); the attributes of a multi-valued
/// RDN (`CN=a+UID=b`) are compared as a set. `CN=a, OU=b` and `CN=a,OU=b` are equal.
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible {
    /// One `TYPE=value` pair.
    public struct Attribute: Sendable, Hashable, Comparable {
        /// Canonical type: a short name (`CN`, `OU`, `EMAILADDRESS`...) or a dotted OID for unknown types.
        public var type: String
        /// The unescaped value.
        public var value: String

        public static func < (lhs: Attribute, rhs: Attribute) -> Bool {
            (lhs.type, lhs.value) < (rhs.type, rhs.value)
        }
    }

    /// Why a string is not a DN, with the position (in bytes) where parsing stopped.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var offset: Int
        public var description: String { "\(reason) (at offset \(offset))" }
    }

    /// The RDNs, most specific first; each RDN's attributes sorted.
    public private(set) var rdns: [[Attribute]]

    /// Parses an RFC 4514 string (RFC 2253's `;` separator and quoted values are accepted too).
    public init(parsing text: String) throws(ParseError) {
        var parser = Parser(bytes: Array(text.utf8))
        rdns = try parser.parse()
    }

    /// The form used as an index key: `CN=a,OU=b`, multi-valued RDNs sorted and joined by `+`, values escaped.
    public var canonical: String {
        rdns.map { rdn in rdn.map { "\($0.type)=\(Self.escape($0.value))" }.joined(separator: "+") }.joined(separator: ",")
    }

    /// The RFC 4514 form authn sends: `CN=operate, OU=Operate, ..., EMAILADDRESS=operate@camunda.com`.
    public var description: String {
        rdns.map { rdn in rdn.map { "\($0.type)=\(Self.escape($0.value))" }.joined(separator: "+") }.joined(separator: ", ")
    }

    /// True when the first RDN is a country or domain component and the last holds a CN: the order `openssl x509
    /// -subject` prints (most general first), which never matches an RFC 4514 subject.
    public var looksReversed: Bool {
        guard rdns.count > 1, let first = rdns.first, let last = rdns.last else { return false }
        return first.contains { $0.type == "C" || $0.type == "DC" } && last.contains { $0.type == "CN" }
    }

    /// The same DN with its RDNs in the opposite order.
    public var reversed: DistinguishedName {
        var copy = self
        copy.rdns = rdns.reversed()
        return copy
    }

    /// RFC 4514 §2.4 escaping.
    static func escape(_ value: String) -> String {
        var out = ""
        let scalars = Array(value.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case "\\", "\"", "+", ",", ";", "<", ">", "=":
                out += "\\" + String(scalar)
            case "#" where index == 0:
                out += "\\#"
            case " " where index == 0 || index == scalars.count - 1:
                out += "\\ "
            case "\u{0}":
                out += "\\00"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Canonical attribute type names: keywords (upper-cased) and OIDs map to one short name (WireFormat's table,
    /// the one authn's subjects are written with).
    static let canonicalTypes = DistinguishedNameAttributes.canonicalNames

    static func canonicalType(_ raw: String) -> String {
        var upper = raw.uppercased()
        if upper.hasPrefix("OID.") { upper = String(upper.dropFirst(4)) }
        return canonicalTypes[upper] ?? upper
    }
}

/// RFC 4514 parser over UTF-8 bytes (hex escapes are bytes of UTF-8 sequences).
private struct Parser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private var atEnd: Bool { index >= bytes.count }
    private var current: UInt8? { atEnd ? nil : bytes[index] }

    private func fail(_ reason: String) -> DistinguishedName.ParseError {
        DistinguishedName.ParseError(reason: reason, offset: index)
    }

    private mutating func skipSpaces() {
        while let byte = current, byte == UInt8(ascii: " ") { index += 1 }
    }

    mutating func parse() throws(DistinguishedName.ParseError) -> [[DistinguishedName.Attribute]] {
        skipSpaces()
        guard !atEnd else { throw fail("the DN is empty") }
        var rdns: [[DistinguishedName.Attribute]] = []
        while true {
            var rdn: [DistinguishedName.Attribute] = []
            while true {
                rdn.append(try attribute())
                skipSpaces()
                if current == UInt8(ascii: "+") {
                    index += 1
                    continue
                }
                break
            }
            rdns.append(rdn.sorted())
            skipSpaces()
            guard let separator = current else { break }
            guard separator == UInt8(ascii: ",") || separator == UInt8(ascii: ";") else {
                throw fail("expected ',' between RDNs")
            }
            index += 1
            skipSpaces()
            if atEnd { throw fail("the DN ends with a separator") }
        }
        return rdns
    }

    private mutating func attribute() throws(DistinguishedName.ParseError) -> DistinguishedName.Attribute {
        skipSpaces()
        let start = index
        while let byte = current, byte != UInt8(ascii: "=") {
            guard isTypeCharacter(byte) else {
                throw fail("unexpected character in an attribute type (expected letters, digits, '-' or '.', then '=')")
            }
            index += 1
        }
        let type = String(decoding: bytes[start..<index], as: UTF8.self).trimmingSpaces()
        guard !type.isEmpty else { throw fail("an attribute type is missing before '='") }
        guard current == UInt8(ascii: "=") else { throw fail("'\(type)' is not followed by '='") }
        guard isValidType(type) else { throw fail("'\(type)' is not an attribute type (a keyword such as CN or a dotted OID)") }
        index += 1
        skipSpaces()
        let value = try attributeValue()
        return DistinguishedName.Attribute(type: DistinguishedName.canonicalType(type), value: value)
    }

    private mutating func attributeValue() throws(DistinguishedName.ParseError) -> String {
        if current == UInt8(ascii: "#") {
            // BER-encoded value: compared as its (lower-cased) hex text.
            let start = index
            index += 1
            while let byte = current, isHexDigit(byte) { index += 1 }
            guard index > start + 1, (index - start - 1) % 2 == 0 else { throw fail("a '#' value needs an even number of hex digits") }
            return String(decoding: bytes[start..<index], as: UTF8.self).lowercased()
        }
        if current == UInt8(ascii: "\"") {
            index += 1
            var value: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("a quoted value is not closed") }
                index += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    value.append(try escaped())
                } else {
                    value.append(byte)
                }
            }
            return try text(value)
        }
        var value: [UInt8] = []
        var significantLength = 0  // up to the last byte that is not an unescaped trailing space
        while let byte = current {
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ";") { break }
            index += 1
            if byte == UInt8(ascii: "\\") {
                value.append(try escaped())
                significantLength = value.count
            } else {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") {
                    index -= 1
                    throw fail("'\(Character(UnicodeScalar(byte)))' must be escaped with a backslash in a DN value")
                }
                value.append(byte)
                if byte != UInt8(ascii: " ") { significantLength = value.count }
            }
        }
        return try text(Array(value[..<significantLength]))
    }

    /// After a backslash: a special character, or two hex digits giving one byte.
    private mutating func escaped() throws(DistinguishedName.ParseError) -> UInt8 {
        guard let first = current else { throw fail("the DN ends with a backslash") }
        if isHexDigit(first), index + 1 < bytes.count, isHexDigit(bytes[index + 1]) {
            let pair = String(decoding: bytes[index...index + 1], as: UTF8.self)
            index += 2
            return UInt8(pair, radix: 16) ?? 0
        }
        let specials: Set<UInt8> = Set(" \"#+,;<=>\\".utf8)
        guard specials.contains(first) else {
            throw fail("'\\\(Character(UnicodeScalar(first)))' is not an escape; escape only \" # + , ; < = > \\ and spaces, or give two hex digits")
        }
        index += 1
        return first
    }

    private func text(_ value: [UInt8]) throws(DistinguishedName.ParseError) -> String {
        guard let string = String(validating: value, as: UTF8.self) else {
            throw fail("a value is not valid UTF-8 after unescaping")
        }
        return string
    }

    private func isTypeCharacter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: " ")
    }

    private func isValidType(_ type: String) -> Bool {
        guard let first = type.unicodeScalars.first else { return false }
        let upper = type.uppercased()
        let body = upper.hasPrefix("OID.") ? String(upper.dropFirst(4)) : upper
        if body.first?.isNumber == true {
            let arcs = body.split(separator: ".", omittingEmptySubsequences: false)
            return arcs.count >= 2 && arcs.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        }
        return first.properties.isAlphabetic && !type.contains(" ") && !type.contains(".")
    }

    private func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars = scalars.dropFirst() }
        while scalars.last == " " { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
