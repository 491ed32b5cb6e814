import AuthProtocol
import HTTPTypes
import Hummingbird
import ServiceSupport

/// A request authn cannot serve that is not a decision about the caller: a body `POST /v1/authenticate` cannot read,
/// a `/v2` target that is malformed or names no route, a body too large to forward, roles not configured or not
/// answering. The routes throw it; ``ErrorLoggingMiddleware`` answers it (inside the tracing and metrics middlewares,
/// so it carries `traceparent`). It is not counted in `certauth_authn_decisions_total`: the refusals of a caller
/// (401/403/503 with a `reason`) are answers ``AuthnDecisions`` counts where the route decides them, and are built there.
struct AuthnRequestError: Error, Sendable, CustomStringConvertible {
    enum Body: Sendable {
        /// An OAuth error body (`POST /v1/authenticate`).
        case oauth(OAuthErrorResponse)
        /// RFC 9457 problem details (`/v2`, as roles answers them).
        case problem(ProblemDetails)
    }

    var status: HTTPResponse.Status
    var body: Body

    /// `400 invalid_request` for `POST /v1/authenticate`.
    static func invalidRequest(_ description: String, traceID: String) -> AuthnRequestError {
        AuthnRequestError(
            status: .badRequest, body: .oauth(OAuthErrorResponse(error: "invalid_request", errorDescription: description, traceID: traceID)))
    }

    /// A `/v2` problem (`application/problem+json`).
    static func problem(_ status: HTTPResponse.Status, _ title: String, _ detail: String) -> AuthnRequestError {
        AuthnRequestError(status: status, body: .problem(AuthnRoutes.problemBody(status, title, detail)))
    }

    var description: String {
        switch body {
        case .oauth(let body): "\(status.code) \(body.error): \(body.errorDescription)"
        case .problem(let body): "\(status.code) \(body.title): \(body.detail)"
        }
    }
}

extension AuthnRequestError: ServiceResponseError {
    func response(from request: Request, context: some RequestContext) throws -> Response {
        switch body {
        case .oauth(let body): JSONResponse.oauthError(status, body)
        case .problem(let body): JSONResponse.problem(body)
        }
    }
}
