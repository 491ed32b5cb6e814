import HTTPTypes

/// A request's regular header fields as libnghttp2 decoded them: the bytes of every name and value in one array, in
/// order, with no `String` made per field. A handler that answers at once (the lean path) reads the few fields it
/// needs as bytes; ``fields`` builds `HTTPFields` only for a request that goes on to the router.
///
/// Names are lower case: libnghttp2 refuses an HTTP/2 field name with an upper-case letter (RFC 9113 section 8.2.1).
public struct HTTP2RequestHeaders: Sendable {
    struct Entry: Sendable {
        var start: Int
        var nameLength: Int
        var valueLength: Int
    }

    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []

    public init() {}

    /// Builds the headers from `fields` (tests, and requests made in process).
    public init(_ fields: HTTPFields) {
        for field in fields {
            append(name: Array(field.name.canonicalName.utf8), value: Array(field.value.utf8))
        }
    }

    mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if bytes.isEmpty { bytes.reserveCapacity(512) }
        entries.append(Entry(start: bytes.count, nameLength: name.count, valueLength: value.count))
        bytes.append(contentsOf: name)
        bytes.append(contentsOf: value)
    }

    mutating func append(name: [UInt8], value: [UInt8]) {
        name.withUnsafeBytes { name in value.withUnsafeBytes { value in append(name: name, value: value) } }
    }

    public var count: Int { entries.count }

    /// The value of the first field named `name` (lower case), as bytes.
    public func first(_ name: String) -> ArraySlice<UInt8>? {
        var name = name
        return name.withUTF8 { wanted in
            for entry in entries where entry.nameLength == wanted.count {
                if matches(entry, wanted) { return bytes[(entry.start + entry.nameLength)..<(entry.start + entry.nameLength + entry.valueLength)] }
            }
            return nil
        }
    }

    /// How many fields are named `name` (lower case).
    public func count(of name: String) -> Int {
        var name = name
        return name.withUTF8 { wanted in
            entries.reduce(0) { $0 + ($1.nameLength == wanted.count && matches($1, wanted) ? 1 : 0) }
        }
    }

    /// Whether a field named `name` (lower case) is present.
    public func contains(_ name: String) -> Bool {
        first(name) != nil
    }

    /// The value of the first field named `name`, as a `String` (UTF-8, invalid sequences replaced).
    public func string(_ name: String) -> String? {
        first(name).map { String(decoding: $0, as: UTF8.self) }
    }

    private func matches(_ entry: Entry, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < wanted.count {
            if bytes[entry.start + index] != wanted[index] { return false }
            index += 1
        }
        return true
    }

    /// Every field as `HTTPFields` (for the router); a name `HTTPField.Name` does not accept is left out.
    public var fields: HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(entries.count)
        for entry in entries {
            let name = String(decoding: bytes[entry.start..<(entry.start + entry.nameLength)], as: UTF8.self)
            guard let fieldName = HTTPField.Name(name) else { continue }
            let valueStart = entry.start + entry.nameLength
            fields.append(HTTPField(name: fieldName, value: String(decoding: bytes[valueStart..<(valueStart + entry.valueLength)], as: UTF8.self)))
        }
        return fields
    }
}
