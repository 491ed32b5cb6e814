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

/// The next credential and zero-touch rotation settings (issue 19 items 3 and 4).
@Suite struct CredentialRotationConfigurationTests {
    let pki: TestPKI

    init() throws { pki = try TestPKI() }

    func configuration(_ overrides: [String: String?]) throws(ConfigurationError) -> TokenIssuerConfiguration {
        var values = pki.tokenIssuerEnvironment(emulatorPort: 9443)
        for (key, value) in overrides { values[key] = value }
        return try TokenIssuerConfiguration(environment: EnvironmentReader(values))
    }

    static let enabled = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_ENABLED"
    static let objectID = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_APPLICATION_OBJECT_ID"

    @Test func nextCredentialInEachFormAndOffByDefault() throws {
        let plain = try configuration([:])
        #expect(plain.nextKeystore == nil && plain.rotation == nil)
        let pem = try configuration([
            TokenIssuerSetting.nextCertificate: pki.path("next.crt"), TokenIssuerSetting.nextPrivateKey: pki.path("next.key"),
        ])
        #expect(pem.nextKeystore?.privateKeyPath == pki.path("next.key"))
        #expect(pem.nextKeystore?.settings == .clientAssertionNext)
        let p12 = try configuration([TokenIssuerSetting.nextKeystorePath: pki.path("next.p12")])
        #expect(p12.nextKeystore?.path == pki.path("next.p12") && p12.nextKeystore?.privateKeyPath == nil)
    }

    @Test func halfANextPairOrNoCurrentCredentialIsRefused() throws {
        let half = #expect(throws: ConfigurationError.self) {
            try configuration([TokenIssuerSetting.nextCertificate: pki.path("next.crt")])
        }
        #expect(half?.variable == TokenIssuerSetting.nextPrivateKey)
        let secretOnly = #expect(throws: ConfigurationError.self) {
            try configuration([
                "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "false", "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_SECRET": "s",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": nil,
                TokenIssuerSetting.nextKeystorePath: pki.path("next.p12"),
            ])
        }
        #expect(secretOnly?.variable == TokenIssuerSetting.nextKeystorePath)
    }

    @Test func rotationNeedsTheObjectIDAsAGUIDAndDefaultsToGraph() throws {
        let missing = #expect(throws: ConfigurationError.self) { try configuration([Self.enabled: "true"]) }
        #expect(missing?.variable == Self.objectID)
        #expect(missing?.message.contains("Object ID") == true)
        let clientID = #expect(throws: ConfigurationError.self) {
            try configuration([Self.enabled: "true", Self.objectID: "identity-app"])
        }
        #expect(clientID?.variable == Self.objectID)
        let rotation = try #require(try configuration([Self.enabled: "true", Self.objectID: "0C5F3A52-4B4E-4E53-9F0C-3F3B0D7E6A11"]).rotation)
        #expect(rotation.graphURL.absoluteString == "https://graph.microsoft.com")
        #expect(rotation.graphScope == "https://graph.microsoft.com/.default")
        #expect(rotation.applicationObjectID == "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11")
        #expect(rotation.gracePeriod == .seconds(86_400))
        let badGrace = #expect(throws: ConfigurationError.self) {
            try configuration([Self.enabled: "true", Self.objectID: "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11",
                               TokenIssuerSetting.rotationGracePeriod: "-1"])
        }
        #expect(badGrace?.variable == TokenIssuerSetting.rotationGracePeriod)
        let plainHTTP = #expect(throws: ConfigurationError.self) {
            try configuration([Self.enabled: "true", Self.objectID: "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11",
                               TokenIssuerSetting.graphURL: "http://graph.corp.example"])
        }
        #expect(plainHTTP?.variable == TokenIssuerSetting.graphURL)
    }

    @Test func rotationOnlyWithACertificateAtEntra() throws {
        let generic = #expect(throws: ConfigurationError.self) {
            try configuration([
                Self.enabled: "true", Self.objectID: "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11",
                "CAMUNDA_IDENTITY_TYPE": "KEYCLOAK", "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "openid",
            ])
        }
        #expect(generic?.variable == Self.enabled)
        #expect(generic?.message.contains("MICROSOFT") == true)
    }
}
