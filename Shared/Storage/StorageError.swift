/// A storage failure: a code to branch on and a sentence for humans (never a password or a stored secret).
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        /// The thing to change does not exist.
        case notFound
        /// The thing to create exists already.
        case conflict
        /// The database cannot be opened or reached.
        case unavailable
        /// The database holds a schema this build does not know (written by a newer version).
        case incompatibleSchema
    }

    public var code: Code
    public var message: String
    /// The request field the failure is about, when there is one (for RFC 9457 answers).
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "StorageError.\(code): \(message)" }
}
