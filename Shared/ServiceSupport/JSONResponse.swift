import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// JSON answers with the suite's conventions.
public enum JSONResponse {
    /// `value` encoded as JSON with `status`.
    public static func make(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        body(status, encoded(value), headers: headers)
    }

    /// `value` as the suite's JSON (sorted keys, slashes unescaped), for answers built outside a `Response`.
    static func encoded(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"server_error"}"#.utf8)
        return ByteBuffer(bytes: data)
    }

    /// The hot answers (see ``DirectJSONEncodable``): the same bytes as the `Encodable` path, without `JSONEncoder`.
    public static func make(_ status: HTTPResponse.Status, _ value: some DirectJSONEncodable, headers: HTTPFields = [:]) -> Response {
        body(status, ByteBuffer(bytes: value.directJSON), headers: headers)
    }

    private static func body(_ status: HTTPResponse.Status, _ buffer: ByteBuffer, headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: buffer))
    }

    /// An OAuth-style error; 401 answers carry RFC 6750 `WWW-Authenticate`.
    public static func oauthError(
        _ status: HTTPResponse.Status, _ error: OAuthErrorResponse, retryAfter: Int? = nil
    ) -> Response {
        var headers: HTTPFields = [:]
        if status == .unauthorized {
            let description = error.errorDescription.replacingOccurrences(of: "\"", with: "'")
            headers[.wwwAuthenticate] = "Bearer error=\"\(error.error)\", error_description=\"\(description)\""
        }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return make(status, error, headers: headers)
    }
}
