import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceSupport
import Storage

/// Why roles refuses a request: the RFC 9457 problem it answers with (`application/problem+json`, `instance` the
/// request path). The routes, the request parsing and ``CallerCheckMiddleware`` throw it; ``ErrorLoggingMiddleware``
/// answers it inside the tracing and metrics middlewares, so a refusal carries `traceparent` and counts under its
/// status like any answer. Anything else a route throws is answered by that middleware as `server_error` (500).
struct RolesError: Error, Sendable, Equatable, CustomStringConvertible {
    var problem: ProblemDetails

    init(_ problem: ProblemDetails) {
        self.problem = problem
    }

    static func badRequest(_ detail: String, field: String? = nil) -> RolesError {
        RolesError(ProblemDetails(title: "Bad Request", status: 400, detail: detail, field: field))
    }

    static func forbidden(_ detail: String) -> RolesError {
        RolesError(ProblemDetails(title: "Forbidden", status: 403, detail: detail))
    }

    static func notFound(_ detail: String, field: String? = nil) -> RolesError {
        RolesError(ProblemDetails(title: "Not Found", status: 404, detail: detail, field: field))
    }

    /// The answer for a storage failure: 404 and 409 say what is missing or taken; an unavailable database is a 503
    /// that names no cause (the log has it).
    init(storage error: StorageError) {
        switch error.code {
        case .notFound: self.init(ProblemDetails(title: "Not Found", status: 404, detail: error.message, field: error.field))
        case .conflict: self.init(ProblemDetails(title: "Conflict", status: 409, detail: error.message, field: error.field))
        case .unavailable, .incompatibleSchema:
            self.init(ProblemDetails(
                title: "Service Unavailable", status: 503,
                detail: "The roles database is not available; nothing was changed. Retry later; the roles service log has the cause."))
        }
    }

    var description: String { "\(problem.status) \(problem.title): \(problem.detail)" }
}

extension RolesError: ServiceResponseError {
    var status: HTTPResponse.Status { HTTPResponse.Status(code: problem.status) }

    /// The problem with `instance` the request path unless set.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var body = problem
        body.instance = body.instance ?? request.uri.path
        return JSONResponse.problem(body)
    }
}
