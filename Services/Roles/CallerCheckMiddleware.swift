import AuthProtocol
import Hummingbird
import Logging
import ServiceSupport

/// Lets through only callers whose verified client certificate (from the internal CA the listener trusts) carries
/// the service identity `spiffe://<trust domain>/<service>` of an allowed service; everything else, an end-user
/// certificate named like a service included, gets a 403 problem naming the identity seen. roles trusts `X-Auth-*`
/// headers on that basis.
struct CallerCheckMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext

    let allowed: Set<String>
    let trustDomain: String

    func handle(
        _ request: Request, context: ServiceRequestContext,
        next: (Request, ServiceRequestContext) async throws -> Response
    ) async throws -> Response {
        let identity = await context.callerIdentity(trustDomain: trustDomain)
        guard let identity, allowed.contains(identity) else {
            let seen: String
            if let identity {
                seen = "'\(identity)'"
            } else if await context.peerCertificate() != nil {
                seen = "none (the client certificate carries no service identity spiffe://\(trustDomain)/<service>: an end-user certificate is never taken for a service)"
            } else {
                seen = "none (no verified client certificate)"
            }
            context.logger.warning("Caller refused", metadata: [
                LogKey.caller: .string(identity ?? "-"), LogKey.httpRoute: .string(request.uri.path),
            ])
            throw RolesError.forbidden(
                "Caller identity \(seen) is not allowed to call roles; allowed: \(allowed.sorted().joined(separator: ", ")) (CAMUNDA_ROLES_ALLOWED_CALLERS).")
        }
        return try await next(request, context)
    }
}
