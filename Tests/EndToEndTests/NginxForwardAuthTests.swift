import AsyncHTTPClient
import AuthProtocol
import DevPKI
import Foundation
import NIOCore
import NIOHTTP1
import SwiftASN1
import Testing
import TestSupport
import X509
import _CryptoExtras

/// nginx (Debian's package) in front of authn with `auth_request`, client certificates forwarded in
/// `X-SSL-Client-Cert`, the emulator as IdP and token-issuer for a bearer token: all real processes over sockets,
/// driven with curl.
@Suite(.serialized)
struct NginxForwardAuthTests {
    static let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test func nginxAuthRequestWithClientCertificatesAndBearerTokens() async throws {
        let nginx = try #require(Self.nginx, "nginx is not installed: .ci/run installs Debian's nginx package")
        let pki = try TestPKI()
        defer { pki.remove() }
        let dir = pki.directory

        // The second seed's chain scheme, made with its openssl commands: root CA → intermediary → component.
        try Self.openssl(dir, ["req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rootCA.key", "-out", "rootCA.crt",
                               "-days", "30", "-subj", "/C=DE/O=Camunda/CN=Camunda Root CA"])
        try Data("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/ca.ext"))
        try Self.openssl(dir, ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "zeebe.key", "-out", "zeebe.csr",
                               "-subj", "/C=DE/O=Camunda/OU=Zeebe/CN=zeebe"])
        try Self.openssl(dir, ["x509", "-req", "-CA", "rootCA.crt", "-CAkey", "rootCA.key", "-in", "zeebe.csr", "-out", "zeebe.crt",
                               "-days", "30", "-CAcreateserial", "-extfile", "ca.ext"])
        try Self.openssl(dir, ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "operate.key", "-out", "operate.csr",
                               "-subj", "/emailAddress=operate@camunda.com/C=DE/ST=BE/L=Berlin/O=Camunda/OU=Operate/CN=operate"])
        try Self.openssl(dir, ["x509", "-req", "-CA", "zeebe.crt", "-CAkey", "zeebe.key", "-in", "operate.csr", "-out", "operate.crt",
                               "-days", "30", "-CAcreateserial"])
        try Self.openssl(dir, ["req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "stranger.key", "-out", "stranger.crt",
                               "-days", "30", "-subj", "/CN=stranger"])

        // nginx's own certificates: its listener, and the client certificate it shows authn as a trusted proxy.
        let ca = try Self.devCA(pki)
        let server = try DevPKI.issue(subject: try DistinguishedName { CommonName("nginx") }, dnsNames: ["localhost"], usage: .server, issuer: ca)
        let proxy = try DevPKI.issue(subject: try DistinguishedName { CommonName("nginx-proxy") }, usage: .client, issuer: ca)
        try Self.write(try server.pem, "\(dir)/nginx.crt")
        try Self.write(server.keyPEM, "\(dir)/nginx.key")
        try Self.write(try proxy.pem, "\(dir)/nginx-proxy.crt")
        try Self.write(proxy.keyPEM, "\(dir)/nginx-proxy.key")

        let emulatorStarted = try await ProcessTests.startBound("entra-emulator", environment: pki.emulatorEnvironment(), log: "\(dir)/emulator.log")
        let emulator = emulatorStarted.process, emulatorPort = emulatorStarted.port
        defer { emulator.terminate(); emulator.waitUntilExit() }
        let issuerStarted = try await ProcessTests.startBound("token-issuer", environment: pki.tokenIssuerEnvironment(
            emulatorPort: emulatorPort), log: "\(dir)/issuer.log")
        let issuer = issuerStarted.process, issuerPort = issuerStarted.port
        defer { issuer.terminate(); issuer.waitUntilExit() }
        let authnStarted = try await ProcessTests.startBound("authn", environment: [
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_ENABLED": "true",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "\(dir)/rootCA.crt",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_INTERMEDIATECERTIFICATES": "\(dir)/zeebe.crt",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES": "\(dir)/nginx-proxy.crt",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_DEFAULT_ROLES": "ROLE_USER",
        ], log: "\(dir)/authn.log")
        let authn = authnStarted.process, authnPort = authnStarted.port
        defer { authn.terminate(); authn.waitUntilExit() }

        for sub in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/tmp/\(sub)", withIntermediateDirectories: true)
        }
        // nginx cannot report a port it picked itself: it gets two ports that were free a moment ago, and the test
        // goes on only once this very nginx holds both (another parallel test may have taken one; then other ports).
        var started: (process: Process, port: Int)?
        for attempt in 0..<5 {
            let nginxPort = ProcessTests.freePort(), backendPort = ProcessTests.freePort()
            try Self.write(Self.configuration(dir: dir, port: nginxPort, backend: backendPort, authn: authnPort), "\(dir)/nginx.conf")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: nginx)
            process.arguments = ["-p", dir, "-c", "\(dir)/nginx.conf", "-g", "daemon off;"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: Self.touch("\(dir)/nginx-\(attempt).stderr")))
            try process.run()
            if await ListeningProcess.waitUntilHolding(pid: process.processIdentifier, ports: [nginxPort, backendPort]) {
                started = (process, nginxPort)
                break
            }
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        let (nginxProcess, nginxPort) = try #require(started, "nginx did not bind its ports in 5 attempts; see \(dir)/nginx-error.log")
        defer { nginxProcess.terminate(); nginxProcess.waitUntilExit() }

        let url = "https://localhost:\(nginxPort)/api/hello"
        let cacert = pki.path("truststore.pem")
        // A component certificate of the seed's intermediary scheme: nginx forwards the leaf, authn builds the chain.
        let operate = try Self.curl(url, cacert: cacert, cert: "\(dir)/operate.crt", key: "\(dir)/operate.key")
        #expect(operate.status == 200, "\(operate.body)")
        // The caller reaches the upstream in the structured fields of docs/security-model.md (an Item and a List of Strings).
        #expect(operate.body.contains(#"principal="operate" roles="ROLE_USER" method=mtls"#), "\(operate.body)")

        // A bearer token from token-issuer.
        let client = try pki.workloadClient()
        var request = HTTPClientRequest(url: "https://localhost:\(issuerPort)/v1/token")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: "{}"))
        let response = try await client.execute(request, timeout: .seconds(30))
        let token = try JSONDecoder().decode(TokenResponse.self, from: Data(try await response.body.collect(upTo: 1 << 20).readableBytesView))
        try await client.shutdown()
        let bearer = try Self.curl(url, cacert: cacert, headers: ["Authorization: Bearer \(token.accessToken)"])
        #expect(bearer.status == 200, "\(bearer.body)")
        #expect(bearer.body.contains("principal=\"\(TestPKI.clientID)\" roles=\"Admin\", \"Reader\" method=oidc"), "\(bearer.body)")

        // Refusals.
        #expect(try Self.curl(url, cacert: cacert).status == 401)
        #expect(try Self.curl(url, cacert: cacert, cert: "\(dir)/stranger.crt", key: "\(dir)/stranger.key").status == 401)
        #expect(try Self.curl(url, cacert: cacert, headers: ["Authorization: Bearer \(token.accessToken.dropLast(4))AAAA"]).status == 401)
        // Calling authn directly with a forged X-SSL-Client-Cert (not from the trusted proxy) is refused.
        let forged = try Self.curl("https://localhost:\(authnPort)/v1/forward-auth", cacert: cacert,
                                   headers: ["X-SSL-Client-Cert: " + (try String(contentsOfFile: "\(dir)/operate.crt", encoding: .utf8))
                                       .addingPercentEncoding(withAllowedCharacters: .alphanumerics)!])
        #expect(forged.status == 401)

        let logs = try String(contentsOfFile: "\(dir)/authn.log", encoding: .utf8)
        #expect(!logs.contains(token.accessToken))
        #expect(!logs.contains(TestPKI.password))
    }

    static func configuration(dir: String, port: Int, backend: Int, authn: Int) -> String {
        """
        worker_processes 1;
        error_log \(dir)/nginx-error.log info;
        pid \(dir)/nginx.pid;
        events { worker_connections 64; }
        http {
          access_log off;
          client_body_temp_path \(dir)/tmp/client_body;
          proxy_temp_path \(dir)/tmp/proxy;
          fastcgi_temp_path \(dir)/tmp/fastcgi;
          uwsgi_temp_path \(dir)/tmp/uwsgi;
          scgi_temp_path \(dir)/tmp/scgi;
          server {
            listen 127.0.0.1:\(backend);
            location / { return 200 "principal=$http_x_auth_principal roles=$http_x_auth_roles method=$http_x_auth_method\\n"; }
          }
          server {
            listen 127.0.0.1:\(port) ssl;
            server_name localhost;
            ssl_certificate \(dir)/nginx.crt;
            ssl_certificate_key \(dir)/nginx.key;
            # authn validates the chain and says why it refuses one; nginx only asks for the certificate.
            ssl_verify_client optional_no_ca;
            location = /_auth {
              internal;
              proxy_pass https://127.0.0.1:\(authn)/v1/forward-auth;
              proxy_pass_request_body off;
              proxy_set_header Content-Length "";
              proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
              proxy_ssl_certificate \(dir)/nginx-proxy.crt;
              proxy_ssl_certificate_key \(dir)/nginx-proxy.key;
              proxy_ssl_trusted_certificate \(dir)/truststore.pem;
              proxy_ssl_verify on;
              proxy_ssl_name localhost;
            }
            location /api/ {
              auth_request /_auth;
              auth_request_set $auth_principal $upstream_http_x_auth_principal;
              auth_request_set $auth_roles $upstream_http_x_auth_roles;
              auth_request_set $auth_method $upstream_http_x_auth_method;
              proxy_set_header X-Auth-Principal $auth_principal;
              proxy_set_header X-Auth-Roles $auth_roles;
              proxy_set_header X-Auth-Method $auth_method;
              proxy_set_header Authorization "";
              proxy_pass http://127.0.0.1:\(backend);
            }
          }
        }
        """
    }

    static func openssl(_ dir: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CommandError("openssl \(arguments.prefix(2).joined(separator: " ")) failed") }
    }

    static func curl(_ url: String, cacert: String, cert: String? = nil, key: String? = nil, headers: [String] = []) throws -> (status: Int, body: String) {
        var arguments = ["-s", "--http1.1", "--cacert", cacert, "-o", "-", "-w", "\n%{http_code}", url]
        if let cert, let key { arguments += ["--cert", cert, "--key", key] }
        for header in headers { arguments += ["-H", header] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        return (status, lines.dropLast().joined(separator: "\n"))
    }

    static func devCA(_ pki: TestPKI) throws -> IssuedCertificate {
        IssuedCertificate(
            certificate: try Certificate(pemEncoded: String(contentsOfFile: pki.path("ca.crt"), encoding: .utf8)),
            key: try .init(pemRepresentation: String(contentsOfFile: pki.path("ca.key"), encoding: .utf8)))
    }

    static func write(_ text: String, _ path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func touch(_ path: String) -> String {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return path
    }
}

struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
