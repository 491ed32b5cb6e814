import Foundation
import Keystore
import ServiceSupport
import Settings
import Testing
import TestSupport
import TokenIssuer

@Suite struct TokenIssuerConfigurationTests {
    let pki: TestPKI

    init() throws { pki = try TestPKI() }

    func environment(_ overrides: [String: String?]) -> EnvironmentReader {
        var values = pki.tokenIssuerEnvironment(emulatorPort: 9443)
        for (key, value) in overrides { values[key] = value }
        return EnvironmentReader(values)
    }

    @Test func scopeWithoutDefaultSuffixStopsTheStart() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try TokenIssuerConfiguration(environment: environment(["CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "api://orchestration"]))
        }
        #expect(error?.description.contains("Invalid scope: missing .default suffix") == true)
        #expect(error?.variable == "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES")
    }

    @Test func genericIdPsTakeAnyScope() throws {
        let configuration = try TokenIssuerConfiguration(environment: environment([
            "CAMUNDA_IDENTITY_TYPE": "GENERIC", "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "openid profile",
        ]))
        #expect(configuration.defaultScope == "openid profile")
    }

    @Test(arguments: [
        ("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_LIFETIME", "900", "out of range"),
        ("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_LIFETIME", "ten", "not a whole number"),
        ("CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ALGORITHM", "HS256", "expected one of RS256, PS256, ES256"),
        ("CAMUNDA_SECURITY_CERT_AUTH_ENABLED", "yes", "expected true or false"),
        ("CAMUNDA_IDENTITY_TYPE", "OKTA", "expected one of MICROSOFT, GENERIC, KEYCLOAK"),
        ("CAMUNDA_IDENTITY_ISSUER_BACKEND_URL", "login.microsoftonline.com", "not an absolute"),
        ("SERVER_PORT", "eighty", "not a whole number"),
        ("SERVER_SSL_CLIENT_AUTH", "none", "SERVER_SSL_CLIENT_AUTH=need"),
    ])
    func malformedValuesNameTheVariable(variable: String, value: String, expected: String) throws {
        let error = #expect(throws: ConfigurationError.self) {
            try TokenIssuerConfiguration(environment: environment([variable: value]))
        }
        #expect(error?.description.hasPrefix(variable) == true)
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test func missingClientIDIsNamed() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try TokenIssuerConfiguration(environment: environment(["CAMUNDA_IDENTITY_CLIENT_ID": nil]))
        }
        #expect(error?.description == "CAMUNDA_IDENTITY_CLIENT_ID: is not set; expected the application (client) ID of the app registration.")
    }

    @Test func missingKeystoreFailsTheBuildWithTheSeedsMessage() async throws {
        let configuration = try TokenIssuerConfiguration(environment: environment([
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": "/nonexistent/identity.p12",
        ]))
        let error = await #expect(throws: KeystoreError.self) {
            _ = try await TokenIssuerApplication.build(configuration: configuration, logger: CapturedLogs().logger("t"))
        }
        #expect(error?.message.hasPrefix("Certificate keystore not found: /nonexistent/identity.p12") == true)
    }

    @Test func wrongKeystorePasswordFailsTheBuild() async throws {
        let configuration = try TokenIssuerConfiguration(environment: environment([
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD": "wrong",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD": "wrong",
        ]))
        let error = await #expect(throws: KeystoreError.self) {
            _ = try await TokenIssuerApplication.build(configuration: configuration, logger: CapturedLogs().logger("t"))
        }
        #expect(error?.code == .wrongPassword)
        #expect(error?.message.contains("wrong") == true)
    }

    @Test func unknownAliasListsThePresentOnes() async throws {
        let configuration = try TokenIssuerConfiguration(environment: environment([
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS": "zeebe",
        ]))
        let error = await #expect(throws: KeystoreError.self) {
            _ = try await TokenIssuerApplication.build(configuration: configuration, logger: CapturedLogs().logger("t"))
        }
        #expect(error?.code == .unknownAlias)
        #expect(error?.message.contains("identity") == true)
    }
}
