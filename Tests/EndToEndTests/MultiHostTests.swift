import Foundation
import Testing
import TestSupport

/// The suite spread over "hosts": every service in its own network namespace with its own address, joined by a
/// bridge that lives in a namespace of its own, so nothing is added to the machine's own network. Names resolve
/// through per-namespace hosts files (`/etc/netns/NS/hosts`, which `ip netns exec` mounts over /etc/hosts), the
/// way Docker's DNS gives one name to all replicas of a service. The client is curl in a namespace of its own.
@Suite(.serialized, .enabled(if: TestNetwork.available, "multi-host test skipped: network namespaces cannot be made here (needs root, iproute2 `ip netns` and curl)"))
struct MultiHostTests {
    static let tenant = TestPKI.tenantID

    @Test func seedFlowAcrossHostsWithThreeIssuerReplicasAndPostgreSQL() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let network = try TestNetwork(hosts: [
            .init(namespace: "idp", name: "entra-emulator", address: "10.77.0.2"),
            .init(namespace: "ti1", name: "token-issuer", address: "10.77.0.11"),
            .init(namespace: "ti2", name: "token-issuer", address: "10.77.0.12"),
            .init(namespace: "ti3", name: "token-issuer", address: "10.77.0.13"),
            .init(namespace: "roles", name: "roles", address: "10.77.0.20"),
            .init(namespace: "roles2", name: "roles", address: "10.77.0.21"),
            .init(namespace: "db", name: "postgres", address: "10.77.0.30"),
            .init(namespace: "authn", name: "authn", address: "10.77.0.40"),
            .init(namespace: "client", name: "client", address: "10.77.0.50"),
        ])
        defer { network.tearDown() }
        step("network: 9 namespaces on a private bridge; token-issuer resolves to 10.77.0.11, .12 and .13, roles to .20 and .21")

        // PostgreSQL on its own host.
        let databaseURL = try await network.startPostgres(namespace: "db", address: "10.77.0.30", directory: pki.path("pg"))
        step("postgres: real server on 10.77.0.30:5432 (namespace db)")

        let password = TestPKI.password
        func listener(_ service: String, _ address: String, port: Int, management: Int) -> [String: String] {
            TestNetwork.listenerEnvironment(pki: pki, service: service, address: address, port: port, management: management)
        }
        try network.start("idp", "entra-emulator", log: pki.path("emulator.log"), environment: listener(
            "entra-emulator", "10.77.0.2", port: 9443, management: 9083
        ).merging([
            "ENTRA_EMULATOR_APPS": pki.path("apps.json"), "ENTRA_EMULATOR_BASE_URL": "https://entra-emulator:9443",
        ]) { $1 })
        let issuerEnvironment: (String) -> [String: String] = { address in
            listener("token-issuer", address, port: 8444, management: 9081).merging([
                "SERVER_SSL_CLIENT_AUTH": "need",
                "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
                "CAMUNDA_IDENTITY_ISSUER_BACKEND_URL": "https://entra-emulator:9443/\(Self.tenant)/v2.0",
                "CAMUNDA_IDENTITY_CLIENT_ID": TestPKI.clientID,
                "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_GRANTTYPE": "client_credentials",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_SCOPES": "\(TestPKI.apiID)/.default",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH": pki.path("identity.p12"),
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD": password,
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS": "identity",
                "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
                "CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS": "authn,app",
            ]) { $1 }
        }
        var issuers: [String: Int32] = [:]
        for (namespace, address) in [("ti1", "10.77.0.11"), ("ti2", "10.77.0.12"), ("ti3", "10.77.0.13")] {
            issuers[namespace] = try network.start(namespace, "token-issuer", log: pki.path("\(namespace).log"), environment: issuerEnvironment(address))
        }
        var rolesReplicas: [String: Int32] = [:]
        for (namespace, address) in [("roles", "10.77.0.20"), ("roles2", "10.77.0.21")] {
            rolesReplicas[namespace] = try network.start(namespace, "roles", log: pki.path("\(namespace).log"), environment: listener(
                "roles", address, port: 8445, management: 9082
            ).merging([
                "SERVER_SSL_CLIENT_AUTH": "need", "CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": databaseURL,
                "INITIAL_CLAIM_NAME": "azp", "INITIAL_CLAIM_VALUE": TestPKI.clientID,
            ]) { $1 })
        }
        let authnEnvironment = listener("authn", "10.77.0.40", port: 8443, management: 9080).merging([
            "SERVER_SSL_CLIENT_AUTH": "want",
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://entra-emulator:9443/\(Self.tenant)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_CERT_AUTH_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_UNPROTECTEDAPI": "true",
            "CAMUNDA_PERSISTENT_SESSIONS_ENABLED": "true",
            "CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": databaseURL,
            "CAMUNDA_ROLES_URL": "https://roles:8445",
            "CAMUNDA_TOKEN_ISSUER_URL": "https://token-issuer:8444",
            // Every bearer request asks roles (no reuse of answers), so its calls show on both replicas.
            "CAMUNDA_AUTHN_RESOLVE_CACHE_TTL": "0",
        ]) { $1 }
        var authn = try network.start("authn", "authn", log: pki.path("authn.log"), environment: authnEnvironment)

        let client = Curl(network: network, namespace: "client", pki: pki)
        for (name, address, port) in [
            ("entra-emulator", "10.77.0.2", 9083), ("token-issuer 1", "10.77.0.11", 9081), ("token-issuer 2", "10.77.0.12", 9081),
            ("token-issuer 3", "10.77.0.13", 9081), ("roles 1", "10.77.0.20", 9082), ("roles 2", "10.77.0.21", 9082),
            ("authn", "10.77.0.40", 9080),
        ] {
            try await client.waitHealthy("http://\(address):\(port)/actuator/health", service: name, logs: pki.directory)
        }
        step("health: emulator, 3 token-issuers, roles and authn are UP, each on its own host")

        // 1. A token from the issuer, by its one name.
        let token = try client.json(client.call("https://token-issuer:8444/v1/token", method: "POST", body: "{}", certificate: true))
        let accessToken = try #require(token["access_token"] as? String)
        #expect(token["token_type"] as? String == "Bearer")
        step("1. client → https://token-issuer:8444/v1/token (mTLS, one name, 3 addresses): a Bearer token, expires_in \(token["expires_in"] ?? "?")")

        // 2. authn validates it and 3. asks roles (on PostgreSQL) for the roles its claims map to.
        let me = try client.json(client.call("https://authn:8443/v2/authentication/me", headers: ["Authorization: Bearer \(accessToken)"]))
        let roles = Set(me["roles"] as? [String] ?? [])
        #expect(me["principal"] as? String == TestPKI.clientID)
        #expect(me["authentication_method"] as? String == "oidc")
        #expect(roles.isSuperset(of: ["Admin", "Reader", "admin"]), "token roles plus roles' admin mapping: \(roles)")
        step("2–3. client → authn /v2/authentication/me with the token: principal \(TestPKI.clientID), roles \(roles.sorted()) (admin resolved by roles on PostgreSQL)")

        // 4. The seed's flow: no credentials → authn gets the suite's token from token-issuer and signs in once for every
        // anonymous caller, who gets the anonymous roles (none here), never the service identity's admin.
        let cookies = pki.path("cookies.txt")
        let anonymous = try client.json(client.call("https://authn:8443/v2/authentication/me", cookieJar: cookies))
        #expect(anonymous["authentication_method"] as? String == "anonymous")
        #expect((anonymous["roles"] as? [String]) == [], "the service identity's roles are not handed to anonymous callers")
        let cookieText = (try? String(contentsOfFile: cookies, encoding: .utf8)) ?? ""
        #expect(!cookieText.contains("CERTAUTH_SESSION"), "no session per anonymous request")
        let write = try client.call("https://authn:8443/v2/roles", method: "POST", body: #"{"roleId": "anon", "name": "anon"}"#)
        #expect(write.status == 403, "\(write.body)")
        step("4. no credentials → authn → token-issuer → emulator: an anonymous caller with no roles, no cookie, 403 on writes")

        // 5. Every anonymous caller shares that one sign-in.
        for _ in 0..<15 {
            #expect(try client.call("https://authn:8443/v2/authentication/me").status == 200)
        }
        var served: [String: Int] = [:]
        for (namespace, address) in [("ti1", "10.77.0.11"), ("ti2", "10.77.0.12"), ("ti3", "10.77.0.13")] {
            let metrics = try client.call("http://\(address):9081/metrics").body
            served[namespace] = Self.counter("certauth_token_cache_hits_total", in: metrics) + Self.counter("certauth_token_cache_misses_total", in: metrics)
        }
        #expect(served.values.reduce(0, +) <= 2, "step 1's token and one sign-in by authn: \(served)")
        step("5. 15 more credential-less calls through authn share its one sign-in: /v1/token calls per replica \(served.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")

        // 6. One replica dies: clients keep getting tokens.
        let killed = try #require(issuers["ti1"])
        kill(killed, SIGKILL)
        // SIGKILL is asynchronous: until every thread of the process is gone its listening socket still completes TCP
        // handshakes, and such a connection is reset during TLS (curl exit 35), which curl does not retry on the next
        // address.
        try network.waitForExit(killed, seconds: 10)
        step("6. kill -9 token-issuer on 10.77.0.11")
        var direct = 0, throughAuthn = 0
        for _ in 0..<10 {
            if try client.call("https://token-issuer:8444/v1/token", method: "POST", body: "{}", certificate: true).status == 200 { direct += 1 }
            if try client.call("https://authn:8443/v2/authentication/me").status == 200 { throughAuthn += 1 }
        }
        #expect(direct == 10 && throughAuthn == 10)
        step("   after the kill: 10/10 tokens straight from token-issuer (curl moves to the next address), 10/10 anonymous calls through authn")

        // 6b. authn spreads its calls to roles over both replicas (one PostgreSQL), and moves off one that dies.
        for _ in 0..<12 {
            #expect(try client.call("https://authn:8443/v2/authentication/me", headers: ["Authorization: Bearer \(accessToken)"]).status == 200)
        }
        var resolved: [String: Int] = [:]
        for (namespace, address) in [("roles", "10.77.0.20"), ("roles2", "10.77.0.21")] {
            resolved[namespace] = Self.counter("certauth_roles_resolutions_total", in: try client.call("http://\(address):9082/metrics").body)
        }
        #expect(resolved.values.allSatisfy { $0 > 0 }, "both roles replicas resolved some calls: \(resolved)")
        let deadRoles = try #require(rolesReplicas["roles"])
        kill(deadRoles, SIGKILL)
        try network.waitForExit(deadRoles, seconds: 10)
        var afterRolesKill = 0
        for _ in 0..<10 {
            if try client.call("https://authn:8443/v2/authentication/me", headers: ["Authorization: Bearer \(accessToken)"]).status == 200 { afterRolesKill += 1 }
        }
        #expect(afterRolesKill == 10)
        let authnLog = (try? String(contentsOfFile: pki.path("authn.log"), encoding: .utf8)) ?? ""
        #expect(authnLog.contains("does not answer") && authnLog.contains("10.77.0.20"), "authn says which replica it moved off")
        step("6b. bearer calls through authn: /v1/resolve per roles replica \(resolved.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")); after kill -9 of roles on 10.77.0.20: 10/10, authn's pool moved off it")

        // 7. authn restarts: the shared sign-in made before survives (persistent sessions in PostgreSQL).
        kill(authn, SIGTERM)
        try network.waitForExit(authn, seconds: 60)
        authn = try network.start("authn", "authn", log: pki.path("authn-2.log"), environment: authnEnvironment)
        try await client.waitHealthy("http://10.77.0.40:9080/actuator/health", service: "authn", logs: pki.directory)
        let resumed = try client.call("https://authn:8443/v2/authentication/me")
        #expect(resumed.status == 200)
        #expect(try client.json(resumed)["authentication_method"] as? String == "anonymous")
        let restartedLog = (try? String(contentsOfFile: pki.path("authn-2.log"), encoding: .utf8)) ?? ""
        #expect(restartedLog.contains("Anonymous sign-in reused from the session store"), "the sign-in came from PostgreSQL")
        step("7. authn restarted: the anonymous sign-in from step 4 is reused from PostgreSQL, no new token-issuer call")

        // No secret in any service log.
        for file in (try FileManager.default.contentsOfDirectory(atPath: pki.directory)).filter({ $0.hasSuffix(".log") && !$0.hasPrefix("pg") }) {
            let text = (try? String(contentsOfFile: pki.path(file), encoding: .utf8)) ?? ""
            #expect(!text.contains(accessToken) && !text.contains(password) && !text.contains("PRIVATE KEY"), "\(file) leaks a secret")
        }
        step("logs: no token, password or private key in any service log")
    }

    func step(_ text: String) {
        print("[multi-host] \(text)")
    }

    static func counter(_ name: String, in metrics: String) -> Int {
        metrics.split(separator: "\n").compactMap { line -> Int? in
            guard line.hasPrefix(name), let value = line.split(separator: " ").last else { return nil }
            return Int(Double(value) ?? 0)
        }.reduce(0, +)
    }
}

/// curl run inside a namespace (a client on its own host).
struct Curl {
    let network: TestNetwork
    let namespace: String
    let pki: TestPKI

    struct Answer {
        var status: Int
        var body: String
    }

    func call(
        _ url: String, method: String = "GET", body: String? = nil, certificate: Bool = false, headers: [String] = [],
        cookieJar: String? = nil, cookieFile: String? = nil
    ) throws -> Answer {
        var arguments = ["-sS", "--http2", "--max-time", "20", "--cacert", pki.path("truststore.pem"), "-X", method, "-o", "-", "-w", "\n%{http_code}"]
        // The dev workload certificate: a service identity (spiffe://certauth/app) token-issuer lets obtain tokens.
        if certificate { arguments += ["--cert", pki.path("app.crt"), "--key", pki.path("app.key")] }
        if let body { arguments += ["-H", "content-type: application/json", "--data", body] }
        for header in headers { arguments += ["-H", header] }
        if let cookieJar { arguments += ["-c", cookieJar] }
        if let cookieFile { arguments += ["-b", cookieFile] }
        let output = try network.run(namespace, "/usr/bin/curl", arguments + [url])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return Answer(status: Int(lines.last ?? "") ?? 0, body: lines.dropLast().joined(separator: "\n"))
    }

    func json(_ answer: Answer) throws -> [String: Any] {
        guard answer.status == 200,
              let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] else {
            throw CommandError("expected 200 with a JSON object, got \(answer.status): \(answer.body.prefix(300))")
        }
        return object
    }

    func waitHealthy(_ url: String, service: String, logs: String) async throws {
        for _ in 0..<300 {
            if (try? call(url))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        let tails = ((try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []).filter { $0.hasSuffix(".log") }.map { file in
            "--- \(file)\n" + String(((try? String(contentsOfFile: logs + "/" + file, encoding: .utf8)) ?? "").suffix(1500))
        }
        throw CommandError("\(service) never became healthy at \(url)\n\(tails.joined(separator: "\n"))")
    }
}
