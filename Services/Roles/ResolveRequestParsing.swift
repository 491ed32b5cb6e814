import AuthProtocol
import Foundation

extension ResolveRequest {
    /// Reads a `/v1/resolve` body with the shapes `JSONDecoder` accepts (`claims`: object or null or absent;
    /// `certificate_subject`: string or null or absent; other members ignored), through ``JSONValue/fromJSON(_:)``, which
    /// is stricter than `JSONDecoder` in one respect: a member name twice in one object is refused, not resolved. Nil
    /// when the body is not such an object.
    init?(json data: Data) {
        guard case .object(let members)? = JSONValue.fromJSON(data) else { return nil }
        let claims: [String: JSONValue]?
        switch members["claims"] {
        case nil, .null?: claims = nil
        case .object(let object)?: claims = object
        default: return nil
        }
        let subject: String?
        switch members["certificate_subject"] {
        case nil, .null?: subject = nil
        case .string(let text)?: subject = text
        default: return nil
        }
        self.init(claims: claims, certificateSubject: subject)
    }
}
