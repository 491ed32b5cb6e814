import Authn
import ServiceSupport
import Settings
import Testing

/// authn's settings: the seed's blocks work as pasted, and every inconsistent combination fails at start with one
/// line naming the variable.
struct AuthnConfigurationTests {
    static let base = [
        "SERVER_SSL_KEY_STORE": "/certs/authn.p12", "SERVER_SSL_TRUST_STORE": "/certs/truststore.pem",
    ]

    func configuration(_ values: [String: String]) throws(ConfigurationError) -> AuthnConfiguration {
        try AuthnConfiguration(environment: EnvironmentReader(Self.base.merging(values) { $1 }))
    }

    @Test func theSeedsEntraBlockAcceptsBothIssuerFormsOfTheTenant() throws {
        let config = try configuration([
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://login.microsoftonline.com/ea952511-6a7f-40b8-af71-6c1be6f0dade/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": "2622078b-0164-41ee-8794-3ff8d9f8e402",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI": "https://login.microsoftonline.com/ea952511-6a7f-40b8-af71-6c1be6f0dade/discovery/v2.0/keys",
        ])
        let oidc = try #require(config.oidc)
        #expect(oidc.issuers.contains("https://sts.windows.net/ea952511-6a7f-40b8-af71-6c1be6f0dade/"))
        #expect(oidc.issuers.contains("https://login.microsoftonline.com/ea952511-6a7f-40b8-af71-6c1be6f0dade/v2.0"))
        #expect(oidc.roleClaims == ["roles", "app_roles"])
        #expect(config.mtls == nil)
        #expect(config.adminRoles == ["admin"])
    }

    @Test func theSeedsMTLSBlockRunsOnCertificatesAlone() throws {
        let config = try configuration([
            "CAMUNDA_SECURITY_AUTHENTICATION_METHOD": "BASIC", "SERVER_SSL_CLIENT_AUTH": "need",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "/certs/ca-cert.pem",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REQUIREVALIDCHAIN": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES": "ROLE_USER,ROLE_ADMIN",
            "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true",
        ])
        #expect(config.oidc == nil)
        #expect(config.mtls?.defaultRoles == ["ROLE_USER", "ROLE_ADMIN"])
        #expect(config.serviceAccountFlow == false, "UNPROTECTEDAPI alone (no CERT_AUTH_ENABLED) does not sign anyone in")
    }

    @Test(arguments: [
        (["CAMUNDA_IDENTITY_ISSUER": "https://idp.example/realms/camunda"], "CAMUNDA_IDENTITY_AUDIENCE: is not set"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_METHOD": "BASIC"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED: is not true"),
        ([:], "CAMUNDA_IDENTITY_ISSUER: is not set"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES: is not set"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "yes please"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true", "SERVER_SSL_CLIENT_AUTH": "none",
          "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "/certs/ca.pem"], "SERVER_SSL_CLIENT_AUTH: is none"),
        (["CAMUNDA_IDENTITY_ISSUER": "https://idp.example/realms/camunda", "CAMUNDA_IDENTITY_AUDIENCE": "api",
          "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true", "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true"],
         "CAMUNDA_TOKEN_ISSUER_URL: is not set"),
        (["CAMUNDA_IDENTITY_ISSUER": "idp.example", "CAMUNDA_IDENTITY_AUDIENCE": "api"], "CAMUNDA_IDENTITY_ISSUER: is 'idp.example'"),
        (["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES": "/certs/nginx.pem", "CAMUNDA_IDENTITY_ISSUER": "https://idp.example",
          "CAMUNDA_IDENTITY_AUDIENCE": "api"], "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES: is set but"),
        (["CAMUNDA_IDENTITY_ISSUER": "https://idp.example", "CAMUNDA_IDENTITY_AUDIENCE": "api",
          "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLOCK_SKEW": "3600"], "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLOCK_SKEW"),
    ])
    func badSettingsFailWithOneLineNamingTheVariable(values: [String: String], expected: String) {
        do {
            _ = try configuration(values)
            Issue.record("accepted: \(values)")
        } catch {
            #expect(error.description.hasPrefix(expected) || error.description.contains(expected), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }
}
