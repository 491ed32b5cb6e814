import Logging
import ServiceSupport
import TraceExport
import TokenIssuer

/// `token-issuer`: keystore → signed client assertion → IdP token exchange → cached tokens for internal callers.
@main
struct TokenIssuerServer {
    static func main() async {
        await ServiceMain.run(name: "token-issuer", tracing: TraceExport.bootstrap) { environment in
            let configuration = try TokenIssuerConfiguration(environment: environment.reader)
            let instance = try await TokenIssuerApplication.build(
                configuration: configuration, logger: environment.logger, metrics: environment.metrics)
            return .init(services: instance.services, port: instance.port, managementPort: instance.managementPort)
        }
    }
}
