import Foundation

/// `application/x-www-form-urlencoded` bodies (OAuth token requests).
public enum FormURLEncoding {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Encodes the pairs in order.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// Decodes a body; a later duplicate of a name wins. Nil when a part is not valid percent-encoding.
    public static func decode(_ body: String) -> [String: String]? {
        var out: [String: String] = [:]
        for part in body.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = unescape(String(pieces[0])) else { return nil }
            let value = pieces.count > 1 ? unescape(String(pieces[1])) : ""
            guard let value else { return nil }
            out[name] = value
        }
        return out
    }

    static func escape(_ string: String) -> String {
        string.addingPercentEncoding(withAllowedCharacters: unreserved) ?? string
    }

    static func unescape(_ string: String) -> String? {
        string.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
