import Authn
import Logging
import ServiceSupport
import TraceExport

/// `authn`: validates bearer tokens (JWKS) and mTLS client certificates, and answers "who is calling, with which
/// roles" for APIs and gateways.
@main
struct AuthnServer {
    static func main() async {
        await ServiceMain.run(name: "authn", tracing: TraceExport.bootstrap) { environment in
            let configuration = try AuthnConfiguration(environment: environment.reader)
            let instance = try await AuthnApplication.build(
                configuration: configuration, logger: environment.logger, metrics: environment.metrics)
            return .init(services: instance.services, port: instance.port, managementPort: instance.managementPort)
        }
    }
}
