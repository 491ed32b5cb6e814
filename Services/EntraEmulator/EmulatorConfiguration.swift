import Foundation
import ServiceClient
import ServiceSupport
import Settings

/// Settings of the entra-emulator.
public struct EmulatorConfiguration: Sendable {
    public var listener: ListenerSettings
    /// Path of the app registrations JSON.
    public var appsPath: String
    /// Public base URL (scheme, host, port); nil means `https://localhost:<bound port>`.
    public var baseURL: String?
    /// Lifetime of issued access tokens in seconds.
    public var tokenLifetime: Int
    /// Clock skew allowed on client assertions, in seconds.
    public var clockSkew: Int
    /// PEM bundle of the CAs that client certificates must chain to for `tls_client_auth` (`ENTRA_EMULATOR_CLIENT_CA`).
    /// When set, the listener asks for (without requiring) client certificates and discovery advertises
    /// `mtls_endpoint_aliases`.
    public var clientCAPath: String?
    /// PEM bundle of extra CAs trusted (besides the system roots) when fetching an external issuer's discovery document
    /// and JWKS for federated credentials (`ENTRA_EMULATOR_TRUSTSTORE_PATH`).
    public var trustStorePath: String?
    /// Forward proxies for those fetches (`HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, or `ENTRA_EMULATOR_PROXY`).
    public var proxies: (https: EgressProxy?, http: EgressProxy?) = (nil, nil)

    public init(listener: ListenerSettings, appsPath: String, baseURL: String? = nil, tokenLifetime: Int = 3599, clockSkew: Int = 300,
                clientCAPath: String? = nil) {
        self.clientCAPath = clientCAPath
        self.listener = listener
        self.appsPath = appsPath
        self.baseURL = baseURL
        self.tokenLifetime = tokenLifetime
        self.clockSkew = clockSkew
    }

    public static let defaultPort = 9443
    public static let defaultManagementPort = 9083

    /// ## Configuration keys
    /// - `ENTRA_EMULATOR_APPS` (required): app registrations JSON
    /// - `ENTRA_EMULATOR_BASE_URL`: public base URL, default `https://localhost:<port>`
    /// - `ENTRA_EMULATOR_TOKEN_LIFETIME`: seconds, 60 to 86400, default 3599
    /// - `ENTRA_EMULATOR_CLOCK_SKEW`: seconds allowed on assertion times, 0 to 3600, default 300
    /// - `ENTRA_EMULATOR_CLIENT_CA`: PEM bundle of the CAs client certificates must chain to (`tls_client_auth`)
    /// - `ENTRA_EMULATOR_TRUSTSTORE_PATH`: PEM bundle of extra CAs for external issuers (federated credentials)
    /// - the listener variables of ``ListenerSettings`` (client auth default `none`, as Entra)
    public init(environment env: EnvironmentReader) throws(ConfigurationError) {
        let listener = try ListenerSettings(
            environment: env, defaultPort: Self.defaultPort, defaultManagementPort: Self.defaultManagementPort,
            defaultClientAuth: .none)
        let base = try env.url("ENTRA_EMULATOR_BASE_URL", allowHTTP: true)?.absoluteString
        self.init(
            listener: listener,
            appsPath: try env.required("ENTRA_EMULATOR_APPS", expected: "the app registrations JSON file (make run writes compose/pki/apps.json)"),
            baseURL: base.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
            tokenLifetime: try env.int("ENTRA_EMULATOR_TOKEN_LIFETIME", default: 3599, range: 1...86_400),
            clockSkew: try env.int("ENTRA_EMULATOR_CLOCK_SKEW", default: 300, range: 0...3600),
            clientCAPath: env.string("ENTRA_EMULATOR_CLIENT_CA"))
        self.trustStorePath = env.string("ENTRA_EMULATOR_TRUSTSTORE_PATH")
        self.proxies = try EgressProxy.fromEnvironment(env, setting: "ENTRA_EMULATOR_PROXY")
    }
}
