import Foundation

// MARK: - Fast parsing (hot paths)

extension JSONValue {
    /// Parses a JSON document with ``JSONReader`` (strict RFC 8259, UTF-8, duplicate member names refused, nesting
    /// limited). `JSONDecoder` with ``JSONValue``'s `Decodable` tries Bool, Double and String in turn and pays for a
    /// thrown error at every miss (43–73 µs for a token payload), `JSONSerialization` boxes every value in `Any` and
    /// `NSNumber`; this reads each byte once. Nil when `data` is not one JSON text.
    public static func fromJSON(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { JSONReader.parse($0) }
    }

    /// A `JSONSerialization` value as a ``JSONValue``.
    public static func fromJSONSerialization(_ value: Any) -> JSONValue {
        switch value {
        case let string as String:
            return .string(string)
        case let number as NSNumber:
            // JSON true/false arrive as NSNumber with objCType "c" (char) on Linux and Darwin alike; every other number
            // has another type code.
            if number.objCType.pointee == CChar(UInt8(ascii: "c")) { return .bool(number.boolValue) }
            return .number(number.doubleValue)
        case let array as [Any]:
            return .array(array.map(fromJSONSerialization))
        case let object as [String: Any]:
            var members = [String: JSONValue](minimumCapacity: object.count)
            for (name, member) in object { members[name] = fromJSONSerialization(member) }
            return .object(members)
        default:
            return .null
        }
    }
}
