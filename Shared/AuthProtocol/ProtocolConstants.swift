/// Names of the suite's services: binary names, compose service names, logger labels, and the first DNS
/// subjectAltName of each service's certificate on the internal protocol.
public enum ServiceName {
    public static let authn = "authn"
    public static let tokenIssuer = "token-issuer"
    public static let roles = "roles"
    public static let entraEmulator = "entra-emulator"
    public static let all = [authn, tokenIssuer, roles, entraEmulator]
}

/// HTTP header names of the internal protocol.
public enum ProtocolHeader {
    /// W3C Trace Context, propagated on every internal call.
    public static let traceparent = "traceparent"
    public static let authPrincipal = "X-Auth-Principal"
    public static let authRoles = "X-Auth-Roles"
    public static let authMethod = "X-Auth-Method"
    /// `?1` when authn decided the caller is an admin (RFC 8941 Boolean); absent otherwise.
    public static let authAdmin = "X-Auth-Admin"
}

/// Paths of the internal protocol.
public enum ProtocolPath {
    public static let token = "/v1/token"
    public static let clientAssertion = "/v1/client-assertion"
    public static let credentials = "/v1/credentials"
    public static let health = "/actuator/health"
    public static let metrics = "/metrics"
}

/// Answer of `GET /actuator/health` on the management port.
public struct HealthResponse: Codable, Sendable, Equatable {
    public struct Component: Codable, Sendable, Equatable {
        public var status: String
        public var details: [String: String]?

        public init(status: String, details: [String: String]? = nil) {
            self.status = status
            self.details = details
        }
    }

    public var status: String
    public var components: [String: Component]

    public init(status: String, components: [String: Component]) {
        self.status = status
        self.components = components
    }
}
