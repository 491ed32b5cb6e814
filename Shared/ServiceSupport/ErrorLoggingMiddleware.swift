import AuthProtocol
import Hummingbird
import Logging

/// Logs errors the routes did not handle at `.error` (Hummingbird would log them at debug) and answers `server_error`.
public struct ErrorLoggingMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext

    public init() {}

    public func handle(
        _ request: Request, context: ServiceRequestContext,
        next: (Request, ServiceRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error("Unhandled error", metadata: [
                "http.route": .string(request.uri.path), "error.type": .string(String(describing: type(of: error))),
            ])
            return JSONResponse.oauthError(.internalServerError, OAuthErrorResponse(
                error: "server_error", errorDescription: "Internal error; see the service log for trace_id \(context.trace.traceID)"))
        }
    }
}
