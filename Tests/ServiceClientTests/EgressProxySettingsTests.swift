import ServiceClient
import Settings
import Testing

/// `EgressProxy`: which proxy an IdP call takes from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` and the service's own
/// proxy setting (token-issuer's name here; the emulator passes its own). The calls through a real proxy:
/// `Tests/TokenIssuerTests/EgressProxyTests`.
@Suite struct EgressProxySettingsTests {
    static let setting = "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY"

    @Test func noProxyAndSchemeChooseTheProxy() throws {
        let env = EnvironmentReader([
            "HTTPS_PROXY": "http://user:s3cret@proxy.corp:3128", "http_proxy": "proxy.corp:8080",
            "NO_PROXY": "localhost, .internal.example, idp.example.com:8443, 10.0.0.5",
        ])
        let (https, http) = try EgressProxy.fromEnvironment(env, setting: Self.setting)
        let proxy = try #require(https)
        #expect(proxy.host == "proxy.corp" && proxy.port == 3128 && proxy.credentials?.user == "user")
        #expect(!proxy.description.contains("s3cret"))
        #expect(http?.port == 8080)
        #expect(proxy.applies(to: "https://login.microsoftonline.com/t/v2.0"))
        #expect(!proxy.applies(to: "https://localhost:9443/t"))
        #expect(!proxy.applies(to: "https://a.internal.example/x"))
        #expect(!proxy.applies(to: "https://internal.example/x"))
        #expect(proxy.applies(to: "https://notinternal.example/x"))
        #expect(!proxy.applies(to: "https://idp.example.com:8443/x"))
        #expect(proxy.applies(to: "https://idp.example.com/x"), "the entry names port 8443 only")
        #expect(!proxy.applies(to: "https://10.0.0.5/x"))

        let own = try EgressProxy.fromEnvironment(EnvironmentReader([
            "HTTPS_PROXY": "http://proxy.corp:3128", Self.setting: "http://idp-proxy:3128",
        ]), setting: Self.setting)
        #expect(own.https?.host == "idp-proxy" && own.https?.variable == Self.setting)
        let none = try EgressProxy.fromEnvironment(EnvironmentReader([
            "HTTPS_PROXY": "http://proxy.corp:3128", Self.setting: "none",
        ]), setting: Self.setting)
        #expect(none.https == nil && none.http == nil)
        do {
            _ = try EgressProxy.fromEnvironment(EnvironmentReader(["HTTPS_PROXY": "https://u:pw@proxy:3128"]), setting: Self.setting)
            Issue.record("an https:// proxy must be refused")
        } catch {
            #expect(error.variable == "HTTPS_PROXY")
            #expect(error.message.contains("only http:// proxies"))
            #expect(!error.message.contains("pw@"))
        }
    }
}
