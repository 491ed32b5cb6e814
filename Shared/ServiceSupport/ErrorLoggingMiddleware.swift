import AuthProtocol
import Hummingbird
import Logging

/// A domain error that is an answer (a refusal, a bad request, an IdP failure passed on): routes throw it, and
/// ``ErrorLoggingMiddleware`` answers with its `response(from:context:)` inside the tracing and metrics middlewares, so
/// the answer carries `traceparent` and counts under its status exactly like a returned one. Service targets conform
/// their domain errors; other `HTTPResponseError`s (Hummingbird's own) pass through as before.
public protocol ServiceResponseError: HTTPResponseError {}

/// Answers the routes' ``ServiceResponseError``s; logs errors the routes did not handle at `.error` (Hummingbird would
/// log them at debug) and answers `server_error`.
public struct ErrorLoggingMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext

    public init() {}

    public func handle(
        _ request: Request, context: ServiceRequestContext,
        next: (Request, ServiceRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any ServiceResponseError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error("Unhandled error", metadata: [
                LogKey.httpRoute: .string(request.uri.path), LogKey.errorType: .string(String(describing: type(of: error))),
            ])
            return JSONResponse.oauthError(.internalServerError, OAuthErrorResponse(
                error: "server_error", errorDescription: "Internal error; see the service log for trace_id \(context.trace.traceID)"))
        }
    }
}
