import AuthProtocol
import Foundation
import WireFormat

extension ResolveRequest {
    /// Reads a `/v1/resolve` body with the shapes `JSONDecoder` accepts (`claims`: object or null or absent;
    /// `certificate_subject` and `certificate_issuer_spki_sha256`: string or null or absent; `certificate_sans`: array of
/// strings or null or absent; other members ignored), through ``JSONValue/fromJSON(_:)``, which
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
        var sans: [String]?
        switch members["certificate_sans"] {
        case nil, .null?: sans = nil
        case .array(let items)?:
            var names: [String] = []
            for item in items {
                guard case .string(let text) = item else { return nil }
                names.append(text)
            }
            sans = names
        default: return nil
        }
        let issuer: String?
        switch members["certificate_issuer_spki_sha256"] {
        case nil, .null?: issuer = nil
        case .string(let text)?: issuer = text
        default: return nil
        }
        self.init(claims: claims, certificateSubject: subject, certificateSANs: sans, certificateIssuerSPKISHA256: issuer)
    }
}
