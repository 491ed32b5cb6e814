import Foundation
import Testing
import TestSupport

/// Issue 19 item 5 acceptance: the IdP reachable only through the proxy. The emulator lives on a subnet (10.78.2.0/24)
/// that token-issuer's, authn's and the client's namespaces have no route to (they hold addresses on 10.78.1.0/24
/// only, no default route); tinyproxy's namespace is the one host on both. token-issuer's discovery, token and Graph
/// calls and authn's discovery and JWKS calls must all go through it, or fail.
///
/// A test of ``MultiHostTests`` (serialized with it: both make network namespaces named after the test process).
extension MultiHostTests {
    @Test func idpReachableOnlyThroughTheProxy() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let objectID = "0c5f3a52-4b4e-4e53-9f0c-3f3b0d7e6a11"
        let apps = """
        {"tenant_id": "\(Self.tenant)",
         "apps": [
          {"client_id": "\(TestPKI.clientID)", "name": "identity", "object_id": "\(objectID)", "certificates": ["identity.cer"],
           "app_roles_granted": {"\(TestPKI.apiID)": ["Admin", "Reader"]}},
          {"client_id": "\(TestPKI.apiID)", "name": "orchestration-api", "app_roles": ["Admin", "Reader"]}]}
        """
        try Data(apps.utf8).write(to: URL(fileURLWithPath: pki.path("apps.json")))
        let next = try CredentialRotationProcessTests.newClientCertificate(pki, name: "identity-next")

        let network = try TestNetwork(hosts: [
            .init(namespace: "idp", name: "entra-emulator", address: "10.78.2.2"),
            .init(namespace: "proxy", name: "proxy", address: "10.78.1.1"),
            .init(namespace: "ti", name: "token-issuer", address: "10.78.1.11"),
            .init(namespace: "authn", name: "authn", address: "10.78.1.40"),
            .init(namespace: "client", name: "client", address: "10.78.1.50"),
        ])
        defer { network.tearDown() }
        // The proxy is the only host with an address on the IdP's subnet too.
        try TestNetwork.ip(["-n", network.namespace("proxy"), "addr", "add", "10.78.2.1/24", "dev", "eth0"])
        step("proxy-only: emulator on 10.78.2.2, token-issuer/authn/client on 10.78.1.0/24 without a route there; tinyproxy on both")

        let proxyLog = pki.path("tinyproxy.log")
        let proxyConfiguration = pki.path("tinyproxy.conf")
        try Data("""
            Port 8888
            Listen 10.78.1.1
            Timeout 60
            LogFile "\(proxyLog)"
            LogLevel Connect
            MaxClients 100
            Allow 10.78.1.0/24
            """.utf8).write(to: URL(fileURLWithPath: proxyConfiguration))
        let tinyproxy = Process()
        tinyproxy.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        tinyproxy.arguments = ["netns", "exec", network.namespace("proxy"), "/usr/bin/tinyproxy", "-d", "-c", proxyConfiguration]
        tinyproxy.standardOutput = FileHandle.nullDevice
        tinyproxy.standardError = FileHandle.nullDevice
        try tinyproxy.run()

        let password = TestPKI.password
        func listener(_ service: String, _ address: String, port: Int, management: Int) -> [String: String] {
            TestNetwork.listenerEnvironment(pki: pki, service: service, address: address, port: port, management: management)
        }
        try network.start("idp", "entra-emulator", log: pki.path("emulator.log"), environment: listener(
            "entra-emulator", "10.78.2.2", port: 9443, management: 9083
        ).merging(["ENTRA_EMULATOR_APPS": pki.path("apps.json"), "ENTRA_EMULATOR_BASE_URL": "https://entra-emulator:9443"]) { $1 })
        try network.start("ti", "token-issuer", log: pki.path("token-issuer.log"), environment: listener(
            "token-issuer", "10.78.1.11", port: 8444, management: 9081
        ).merging([
            "SERVER_SSL_CLIENT_AUTH": "need",
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL": "https://entra-emulator:9443/\(Self.tenant)/v2.0",
            "CAMUNDA_IDENTITY_CLIENT_ID": TestPKI.clientID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "\(TestPKI.apiID)/.default",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": pki.path("identity.p12"),
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD": password,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS": "identity",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS": "authn,app",
            "HTTPS_PROXY": "http://proxy:8888",
            // Zero-touch rotation of a next certificate: Graph addKey/removeKey through the proxy too.
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_CERTIFICATE": pki.path("identity-next.crt"),
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_PRIVATE_KEY": pki.path("identity-next.key"),
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_RELOAD_INTERVAL": "1",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_APPLICATION_OBJECT_ID": objectID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_ROTATION_GRACE_PERIOD": "1",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRAPH_URL": "https://entra-emulator:9443",
        ]) { $1 })
        try network.start("authn", "authn", log: pki.path("authn.log"), environment: listener(
            "authn", "10.78.1.40", port: 8443, management: 9080
        ).merging([
            "SERVER_SSL_CLIENT_AUTH": "want",
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://entra-emulator:9443/\(Self.tenant)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_PROXY": "http://proxy:8888",
        ]) { $1 })

        let client = Curl(network: network, namespace: "client", pki: pki)
        let proxy = Curl(network: network, namespace: "proxy", pki: pki)
        try await proxy.waitHealthy("http://10.78.2.2:9083/actuator/health", service: "entra-emulator", logs: pki.directory)
        try await client.waitHealthy("http://10.78.1.11:9081/actuator/health", service: "token-issuer", logs: pki.directory)
        try await client.waitHealthy("http://10.78.1.40:9080/actuator/health", service: "authn", logs: pki.directory)

        // The proof: from token-issuer's and authn's hosts the emulator's name resolves, but there is no route to it.
        let discovery = "https://entra-emulator:9443/\(Self.tenant)/v2.0/.well-known/openid-configuration"
        for host in ["ti", "authn"] {
            #expect(throws: (any Error).self, "\(host) reaches the IdP directly") {
                try network.run(host, "/usr/bin/curl", ["-sS", "--max-time", "5", "--cacert", pki.path("truststore.pem"), discovery])
            }
            let viaProxy = try network.run(host, "/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", pki.path("truststore.pem"), "-x", "http://proxy:8888", discovery])
            #expect(viaProxy.contains("token_endpoint"), "\(host) reaches it through the proxy")
        }
        step("proxy-only: curl from token-issuer's and authn's hosts fails directly (no route), works with -x http://proxy:8888")

        // token-issuer's discovery and token calls, authn's discovery and JWKS: through the proxy.
        let token = try client.json(client.call("https://token-issuer:8444/v1/token", method: "POST", body: "{}", certificate: true))
        let accessToken = try #require(token["access_token"] as? String)
        var me = Curl.Answer(status: 0, body: "")
        for _ in 0..<50 {
            me = try client.call("https://authn:8443/v2/authentication/me", headers: ["Authorization: Bearer \(accessToken)"])
            if me.status == 200 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(me.status == 200, "authn validated the token with the JWKS fetched through the proxy: \(me.body.prefix(400))")

        // Graph addKey and removeKey through the proxy: the next certificate ends as the only key registered.
        var keys = ""
        for _ in 0..<300 {
            keys = (try? proxy.call("http://10.78.2.2:9083/_emulator/apps/\(TestPKI.clientID)/keys").body) ?? ""
            if keys.contains(next.x5tS256), keys.components(separatedBy: "key_id").count == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(keys.contains(next.x5tS256) && keys.components(separatedBy: "key_id").count == 2, "only the next key is registered: \(keys)")
        let again = try client.call("https://token-issuer:8444/v1/token", method: "POST", body: #"{"scope": "api://\#(TestPKI.apiID)/.default"}"#, certificate: true)
        #expect(again.status == 200, "the rotated certificate signs through the proxy: \(again.body.prefix(400))")

        let proxyText = (try? String(contentsOfFile: proxyLog, encoding: .utf8)) ?? ""
        #expect(proxyText.contains("CONNECT entra-emulator:9443"), "\(proxyText.suffix(1500))")
        #expect(proxyText.contains("10.78.1.11") && proxyText.contains("10.78.1.40"), "both token-issuer and authn used the proxy")
        step("proxy-only: token, /me (JWKS), Graph addKey/removeKey all succeeded with the proxy as the only way to the IdP")
        if tinyproxy.isRunning { kill(tinyproxy.processIdentifier, SIGKILL) }
    }
}
