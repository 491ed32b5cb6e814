import EntraEmulator
import Foundation
import ServiceSupport
import Settings
import Testing
import TestSupport

/// The emulator's tls_client_auth registrations: DN matching and the one-line errors of a bad registrations file.
@Suite struct EmulatorTLSClientAuthTests {
    @Test func exactMatchComparesAttributesNotSpellings() {
        let policy = TLSClientAuthPolicy(subjectDN: "CN=operate,OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, emailAddress=operate@camunda.com")
        #expect(policy.matches(subject: "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com"))
        #expect(!policy.matches(subject: "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE"))
        #expect(!policy.matches(subject: "CN=tasklist, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com"))
        // Order matters (the seed: "both the order and attributes are important").
        #expect(!policy.matches(subject: "EMAILADDRESS=operate@camunda.com, C=DE, ST=BE, L=Berlin, O=Camunda, OU=Operate, CN=operate"))
    }

    @Test func regexMatchIsAFullMatchAsInTheSeed() {
        let policy = TLSClientAuthPolicy(
            subjectDN: "CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)", dnMatch: .regex)
        #expect(policy.matches(subject: "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com"))
        #expect(policy.matches(subject: "CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=zeebe@camunda.com"))
        // `(.*?)` also matches commas: the seed's pattern accepts a subject with extra attributes after the e-mail
        // (Keycloak behaves the same). `[^,]*` groups close that gap; docs/x509-client-auth.md recommends them.
        let appended = "CN=evil, OU=X, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=e@x.com, O=Other"
        #expect(policy.matches(subject: appended))
        let strict = TLSClientAuthPolicy(
            subjectDN: "CN=([^,]*), OU=([^,]*), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=([^,]*)", dnMatch: .regex)
        #expect(!strict.matches(subject: appended))
        #expect(strict.matches(subject: "CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=zeebe@camunda.com"))
        #expect(!strict.matches(subject: "X" + "CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=zeebe@camunda.com"),
                "a full match: nothing before the pattern")
        #expect(!policy.matches(subject: "CN=operate, OU=Operate, O=Other, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com"))
    }

    @Test(arguments: [
        (#"{"client_id": "a", "token_endpoint_auth_method": "tls_client_auth"}"#, "needs tls_client_auth_subject_dn"),
        (#"{"client_id": "a", "token_endpoint_auth_method": "mtls"}"#, "token_endpoint_auth_method 'mtls' is not supported"),
        (#"{"client_id": "a", "tls_client_auth_subject_dn": "CN=a"}"#, "token_endpoint_auth_method is not \"tls_client_auth\""),
        (#"{"client_id": "a", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=(", "tls_client_auth_dn_match": "regex"}"#,
         "not a valid regular expression"),
        (#"{"client_id": "a", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a", "tls_client_auth_dn_match": "glob"}"#,
         "tls_client_auth_dn_match 'glob' is not supported"),
        (#"{"client_id": "a", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a", "tls_client_auth_chain_match": "root"}"#,
         "tls_client_auth_chain_match 'root' is not supported"),
    ])
    func badRegistrationsAreNamed(app: String, expected: String) throws {
        let path = NSTemporaryDirectory() + "apps-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"tenant_id": "t", "apps": [\#(app)]}"#.utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: RegistryError.self) { try AppRegistry.load(path: path) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("App a in \(path)") == true)
    }

    @Test func tlsClientAuthWithoutAClientCAStopsTheStart() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let path = pki.path("tls-apps.json")
        try Data(#"{"tenant_id": "t", "apps": [{"client_id": "a", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let configuration = try EmulatorConfiguration(environment: EnvironmentReader(pki.emulatorEnvironment(extra: ["ENTRA_EMULATOR_APPS": path])))
        let error = await #expect(throws: RegistryError.self) {
            _ = try await EmulatorApplication.build(configuration: configuration, logger: CapturedLogs().logger("t"))
        }
        #expect(error?.description.contains("ENTRA_EMULATOR_CLIENT_CA is not set") == true)
    }
}
