import EntraEmulator
import Logging
import ServiceSupport
import TraceExport

/// `entra-emulator`: a local stand-in for Microsoft Entra ID's v2.0 endpoints. Never needed in production.
@main
struct EntraEmulatorServer {
    static func main() async {
        await ServiceMain.run(name: "entra-emulator", tracing: TraceExport.bootstrap) { environment in
            let configuration = try EmulatorConfiguration(environment: environment.reader)
            let instance = try await EmulatorApplication.build(
                configuration: configuration, logger: environment.logger, metrics: environment.metrics)
            return .init(services: instance.services, port: instance.port, managementPort: instance.managementPort)
        }
    }
}
