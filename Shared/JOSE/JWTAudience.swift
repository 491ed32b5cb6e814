/// The `aud` claim as RFC 7519 (section 4.1.3) defines it: one string or an array of strings, read as the list
/// either way. Any other JSON (a number, an array holding a non-string) is a decoding error, not an empty list.
public struct JWTAudience: Codable, Sendable, Equatable {
    public var values: [String]

    public init(_ values: [String]) {
        self.values = values
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let single = try? container.decode(String.self) {
            values = [single]
        } else {
            values = try container.decode([String].self)
        }
    }

    /// One audience as a string (the usual form), several as an array.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if values.count == 1 { try container.encode(values[0]) } else { try container.encode(values) }
    }
}
