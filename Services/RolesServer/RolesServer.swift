import Logging
import Roles
import ServiceSupport
import TraceExport

/// `roles`: mapping rules (claim → role, certificate subject → role), role resolution for authn, and the
/// Camunda-style `/v2` management API, over SQLite (default) or PostgreSQL.
@main
struct RolesServer {
    static func main() async {
        await ServiceMain.run(name: "roles", tracing: TraceExport.bootstrap) { environment in
            let configuration = try RolesConfiguration(environment: environment.reader)
            let instance = try await RolesApplication.build(
                configuration: configuration, logger: environment.logger, metrics: environment.metrics)
            return .init(services: instance.services, port: instance.port, managementPort: instance.managementPort)
        }
    }
}
