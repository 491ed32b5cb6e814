import AuthProtocol
import Hummingbird
import Logging
import ServiceSupport

/// Lets through only callers whose verified client certificate names an allowed service (first DNS SAN);
/// everything else gets a 403 problem naming the identity seen. roles trusts `X-Auth-*` headers on that basis.
struct CallerCheckMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext

    let allowed: Set<String>

    func handle(
        _ request: Request, context: ServiceRequestContext,
        next: (Request, ServiceRequestContext) async throws -> Response
    ) async throws -> Response {
        let identity = await context.callerIdentity()
        guard let identity, allowed.contains(identity) else {
            let seen = identity.map { "'\($0)'" } ?? "no verified client certificate"
            context.logger.warning("Caller refused", metadata: [
                "caller": .string(identity ?? "-"), "http.route": .string(request.uri.path),
            ])
            return ProblemDetails.forbidden(
                "Caller identity \(seen) is not allowed to call roles; allowed: \(allowed.sorted().joined(separator: ", ")) (CAMUNDA_ROLES_ALLOWED_CALLERS).")
                .response(instance: request.uri.path)
        }
        return try await next(request, context)
    }
}
