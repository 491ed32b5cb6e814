import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WireFormat

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

    /// An RFC 9457 problem (`application/problem+json`) with the problem's own status: roles' refusals and authn's `/v2`
    /// answers.
    public static func problem(_ problem: ProblemDetails, headers: HTTPFields = [:]) -> Response {
        var response = make(HTTPResponse.Status(code: problem.status), problem, headers: headers)
        response.headers[.contentType] = ProblemDetails.contentType
        return response
    }

    /// An OAuth-style error; 401 answers carry RFC 6750 `WWW-Authenticate`.
    public static func oauthError(
        _ status: HTTPResponse.Status, _ error: OAuthErrorResponse, retryAfter: Int? = nil
    ) -> Response {
        var headers: HTTPFields = [:]
        if status == .unauthorized {
            headers[.wwwAuthenticate] =
                "Bearer error=\"\(HTTPQuotedString.sanitized(error.error))\", error_description=\"\(HTTPQuotedString.sanitized(error.errorDescription))\""
        }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return make(status, error, headers: headers)
    }
}

/// Text made safe inside an HTTP quoted-string (RFC 9110 section 5.6.4), as `WWW-Authenticate` parameters carry it: the
/// one sanitizer for every challenge the suite writes. Error descriptions come from outside (an IdP's
/// `error_description` holds `\r\n` and quotes; a token's claims end up in reasons), so `"` and `\` become `'`, control
/// characters and anything outside printable ASCII a space, and the text is cut at `limit` characters.
public enum HTTPQuotedString {
    public static func sanitized(_ text: String, limit: Int = 400) -> String {
        var out = ""
        out.reserveCapacity(min(text.utf8.count, limit + 3))
        var count = 0
        for scalar in text.unicodeScalars {
            guard count < limit else { return out + "..." }
            switch scalar {
            case "\"", "\\": out.append("'")
            case _ where scalar.value < 0x20 || scalar.value > 0x7E: out.append(" ")
            default: out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
