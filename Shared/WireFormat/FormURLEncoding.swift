import Foundation

/// `application/x-www-form-urlencoded` bodies token-issuer sends (OAuth token requests, and RFC 6749 §2.3.1's
/// encoding of `client_secret_basic`'s id and secret). Only encoding: the emulator reads forms with Hummingbird's
/// `URLEncodedFormDecoder`.
///
/// Ours, not Hummingbird's `URLEncodedFormEncoder`: that one leaves `+`, `:`, `/`, `?`, `@` and `!$'()*,;` as they are
/// (RFC 3986's query set), so a `+` in a client secret arrives as a space at Entra or Keycloak (every form decoder,
/// Hummingbird's too, reads `+` as a space) and a `:` in a client id splits `client_secret_basic`'s `id:secret` in
/// the wrong place. Here everything but RFC 3986's unreserved characters is percent-encoded (space as `%20`), which
/// every form decoder reads back exactly: `Tests/WireFormatTests/FormURLEncodingTests` holds it to Hummingbird's
/// decoder and to Python's `urllib.parse.parse_qsl`.
public enum FormURLEncoding {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Encodes the pairs in order.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// One name or value, percent-encoded (what RFC 6749 §2.3.1 asks of `client_secret_basic`'s id and secret).
    public static func escape(_ string: String) -> String {
        string.addingPercentEncoding(withAllowedCharacters: unreserved) ?? string
    }
}
