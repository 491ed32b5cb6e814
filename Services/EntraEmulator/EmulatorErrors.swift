import Foundation
import HTTPTypes
import Hummingbird
import ServiceSupport
import WireFormat

/// A refusal of the token or discovery endpoint as Entra ID answers it: the ``EntraFailure`` (status, OAuth error,
/// AADSTS code, message) with what only the route knows (the `client-request-id` it echoes as `correlation_id`, an
/// injected fault's `error_codes` and `Retry-After`, the base URL of `error_uri`). The routes throw it;
/// ``ErrorLoggingMiddleware`` answers it inside the tracing and metrics middlewares. The body is the one MSAL and
/// azure-identity read: `error`, `error_description` ("AADSTS…: … Trace ID: … Correlation ID: … Timestamp: …"),
/// `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
struct EntraRefusal: Error, Sendable {
    var failure: EntraFailure
    /// `error_codes`; `[failure.code]` unless an injected fault lists its own.
    var codes: [Int]
    var headers: HTTPFields
    /// The caller's `client-request-id`, echoed; a new id when it sent none.
    var correlationID: String?
    /// The emulator's base URL (`error_uri` is `<base>/error?code=<AADSTS code>`).
    var baseURL: String

    init(_ failure: EntraFailure, codes: [Int]? = nil, headers: HTTPFields = [:], correlationID: String? = nil, baseURL: String) {
        self.failure = failure
        self.codes = codes ?? [failure.code]
        self.headers = headers
        self.correlationID = correlationID
        self.baseURL = baseURL
    }
}

extension EntraRefusal: ServiceResponseError {
    var status: HTTPResponse.Status { HTTPResponse.Status(code: failure.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let traceID = UUID().uuidString.lowercased()
        let correlation = correlationID ?? UUID().uuidString.lowercased()
        let timestamp = RFC3339.string(Date())
        let description = "AADSTS\(failure.code): \(failure.message) Trace ID: \(traceID) Correlation ID: \(correlation) Timestamp: \(timestamp)"
        return JSONResponse.make(
            status,
            EntraErrorBody(error: failure.error, errorDescription: description, errorCodes: codes, timestamp: timestamp,
                 traceID: traceID, correlationID: correlation, errorURI: "\(baseURL)/error?code=\(failure.code)"),
            headers: headers)
    }
}

/// Microsoft Graph's error answer: `{"error": {"code", "message", "innerError": {"date", "request-id",
/// "client-request-id"}}}` with the failure's status. The Graph routes (addKey, removeKey, the application) throw it.
extension GraphFailure: ServiceResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = UUID().uuidString.lowercased()
        return JSONResponse.make(
            status,
            GraphErrorBody(error: .init(code: code, message: message, innerError: [
                "date": RFC3339.string(Date()), "request-id": requestID, "client-request-id": requestID,
            ])))
    }
}

/// The body of ``EntraRefusal``.
private struct EntraErrorBody: Encodable {
    var error: String; var errorDescription: String; var errorCodes: [Int]; var timestamp: String
    var traceID: String; var correlationID: String; var errorURI: String
    enum CodingKeys: String, CodingKey {
        case error, timestamp
        case errorDescription = "error_description", errorCodes = "error_codes", traceID = "trace_id"
        case correlationID = "correlation_id", errorURI = "error_uri"
    }
}

/// The body of ``GraphFailure``.
private struct GraphErrorBody: Encodable {
    struct Inner: Encodable {
        var code: String; var message: String; var innerError: [String: String]
    }
    var error: Inner
}
