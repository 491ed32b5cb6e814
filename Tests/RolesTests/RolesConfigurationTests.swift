import Roles
import ServiceSupport
import Settings
import Storage
import Testing

@Suite struct RolesConfigurationTests {
    /// Reading the configuration opens no file: paths are enough.
    static func environment(_ extra: [String: String]) throws -> [String: String] {
        ["SERVER_SSL_KEY_STORE": "/nonexistent/roles.p12", "SERVER_SSL_TRUST_STORE": "/nonexistent/truststore.pem"]
            .merging(extra) { $1 }
    }

    @Test func defaults() throws {
        let configuration = try RolesConfiguration(environment: EnvironmentReader(try Self.environment([:])))
        #expect(configuration.listener.port == 8445)
        #expect(configuration.listener.clientAuth == .need)
        #expect(configuration.database == .sqlite(path: "data/roles.sqlite"))
        #expect(configuration.allowedCallers == ["authn"])
        #expect(configuration.initialClaim == nil)
        #expect(configuration.reloadInterval == .milliseconds(250))
    }

    @Test(arguments: [
        (["INITIAL_CLAIM_NAME": "azp", "INITIAL_CLAIM_VALUE": "client-1"], InitialClaim(name: "azp", value: "client-1", source: "INITIAL_CLAIM_NAME, INITIAL_CLAIM_VALUE")),
        (["INITIAL_CLAIM_VALUE": "aaa3a5e0"], InitialClaim(name: "oid", value: "aaa3a5e0", source: "INITIAL_CLAIM_VALUE")),
        (["IDENTITY_INITIAL_CLAIM_NAME": "claim-name", "IDENTITY_INITIAL_CLAIM_VALUE": "claim-value"],
         InitialClaim(name: "claim-name", value: "claim-value", source: "IDENTITY_INITIAL_CLAIM_NAME, IDENTITY_INITIAL_CLAIM_VALUE")),
        (["INITIAL_CLAIM_VALUE": "same", "IDENTITY_INITIAL_CLAIM_VALUE": "same"], InitialClaim(name: "oid", value: "same", source: "INITIAL_CLAIM_VALUE")),
    ])
    func initialClaim(_ extra: [String: String], _ expected: InitialClaim) throws {
        #expect(try RolesConfiguration(environment: EnvironmentReader(try Self.environment(extra))).initialClaim == expected)
    }

    @Test(arguments: [
        (["INITIAL_CLAIM_NAME": "oid"], "INITIAL_CLAIM_VALUE: is not set but INITIAL_CLAIM_NAME is"),
        (["INITIAL_CLAIM_VALUE": "a", "IDENTITY_INITIAL_CLAIM_VALUE": "b"], "INITIAL_CLAIM_VALUE: differs from IDENTITY_INITIAL_CLAIM_VALUE"),
        (["SERVER_SSL_CLIENT_AUTH": "none"], "SERVER_SSL_CLIENT_AUTH: roles answers only callers that present a certificate"),
        (["CAMUNDA_ROLES_ALLOWED_CALLERS": " , "], "CAMUNDA_ROLES_ALLOWED_CALLERS: lists no service"),
        (["CAMUNDA_ROLES_RELOAD_INTERVAL_MS": "5"], "CAMUNDA_ROLES_RELOAD_INTERVAL_MS: 5 is out of range"),
        (["CAMUNDA_DATABASE_TYPE": "postgresql"], "CAMUNDA_DATABASE_URL: is not set"),
    ])
    func badSettingsNameTheVariable(_ extra: [String: String], _ expected: String) throws {
        let environment = EnvironmentReader(try Self.environment(extra))
        do {
            _ = try RolesConfiguration(environment: environment)
            Issue.record("accepted \(extra)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }
}
