import AsyncHTTPClient
import AuthProtocol
import Foundation
import NIOSSL
import Testing
import TestSupport

/// authn with `…_MTLS_REVOCATION=ocsp` against `openssl ocsp` (started by the test, on a port it checks the responder
/// holds): a revoked client certificate is refused, a good one accepted; with the responder down, an answer cached until
/// its nextUpdate keeps serving, an unchecked certificate is refused (fail-closed) and health `ocsp` is DEGRADED with the
/// responder's last error (issue 17 item 4).
@Suite(.serialized)
struct OCSPLiveTests {
    final class Responder: Sendable {
        let directory: String
        let process: Process
        let port: Int

        init() async throws {
            var made: String?
            let started: (process: Process, port: Int)
            do {
                started = try await ListeningProcess.start("openssl ocsp", seconds: 10) { port, attempt in
                    if let earlier = made { try? FileManager.default.removeItem(atPath: earlier) }  // a port lost to another process
                    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authn-ocsp-\(UUID().uuidString)").path
                    made = directory
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    func run(_ arguments: [String]) throws {
                        try OpenSSLCLI.run(arguments, in: directory)
                    }
                    func write(_ name: String, _ text: String) throws {
                        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
                    }
                    try write("ca.cnf", """
                        [ ca ]
                        default_ca = live_ca
                        [ live_ca ]
                        database = index.txt
                        new_certs_dir = .
                        serial = serial
                        default_md = sha256
                        default_days = 30
                        policy = accept_any
                        unique_subject = no
                        [ accept_any ]
                        commonName = supplied

                        """)
                    try write("index.txt", "")
                    try write("serial", "2000\n")
                    try write("req.cnf", """
                        [ req ]
                        distinguished_name = dn
                        x509_extensions = v3
                        [ dn ]
                        [ v3 ]
                        basicConstraints = critical,CA:TRUE
                        keyUsage = critical,keyCertSign,cRLSign
                        subjectKeyIdentifier = hash

                        """)
                    try write("leaf.ext", """
                        basicConstraints = CA:FALSE
                        keyUsage = digitalSignature
                        extendedKeyUsage = clientAuth
                        authorityInfoAccess = OCSP;URI:http://127.0.0.1:\(port)/

                        """)
                    try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
                             "-subj", "/CN=OCSP Live CA \(attempt)", "-config", "req.cnf"])
                    for name in ["good", "bad", "later"] {
                        try run(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
                        try run(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "\(name).csr",
                                 "-out", "\(name).crt", "-notext", "-extfile", "leaf.ext"])
                    }
                    try run(["ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-revoke", "bad.crt"])
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
                    process.arguments = ["ocsp", "-index", "index.txt", "-port", String(port), "-rsigner", "ca.crt", "-rkey", "ca.key",
                                         "-CA", "ca.crt", "-nmin", "5"]
                    process.currentDirectoryURL = URL(fileURLWithPath: directory)
                    process.standardOutput = FileHandle.nullDevice
                    process.standardError = FileHandle.nullDevice
                    return process
                }
            } catch {
                if let made { try? FileManager.default.removeItem(atPath: made) }
                throw error
            }
            self.directory = try #require(made)
            self.process = started.process
            self.port = started.port
        }

        /// SIGKILL: `openssl ocsp` acts on SIGTERM only after its next connection.
        func stop() {
            ListeningProcess.stop(process)
        }

        func remove() {
            stop()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func client(_ name: String, trusting pki: TestPKI) throws -> HTTPClient {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(pki.path("truststore.pem"))
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile("\(directory)/\(name).crt").map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: "\(directory)/\(name).key", format: .pem))
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        }
    }

    @Test func revokedRefusedCachedAnswersServeAndAnOutageFailsClosed() async throws {
        let responder = try await Responder()
        defer { responder.remove() }
        try await AuthnLiveTests().withSuite(extra: { pki in
            [
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES": "\(pki.path("truststore.pem")),\(responder.directory)/ca.crt",
                "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION": "ocsp",
            ]
        }) { pki, _, ports in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            let responderURL = "http://127.0.0.1:\(responder.port)/"
            try await withClient(try responder.client("good", trusting: pki)) { good in
            try await withClient(try responder.client("bad", trusting: pki)) { bad in
            try await withClient(try responder.client("later", trusting: pki)) { later in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                let accepted = try await call(good, url)
                #expect(accepted.status == 200, "\(accepted.text)")
                let refused = try await call(bad, url)
                #expect(refused.status == 401)
                #expect(refused.headers["www-authenticate"]?.contains("revoked through OCSP") == true, "\(refused.headers)")
                /// Health component `ocsp` (reported every 5 s), polled until `done` holds for it.
                func ocspHealth(until done: (String, [String: String]) -> Bool) async throws -> (String, [String: String])? {
                    for _ in 0..<60 {
                        let health = try await call(anonymous, "http://127.0.0.1:\(ports.management)/actuator/health")
                        let object = try JSONSerialization.jsonObject(with: health.body) as? [String: Any]
                        let ocsp = (object?["components"] as? [String: Any])?["ocsp"] as? [String: Any]
                        let status = ocsp?["status"] as? String ?? ""
                        let details = ocsp?["details"] as? [String: String] ?? [:]
                        if done(status, details) { return (status, details) }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                    return nil
                }
                let healthy = try await ocspHealth { status, details in status == "UP" && details.values.contains(responderURL) }
                #expect(healthy?.1["responder0.next_update"] != nil, "\(String(describing: healthy))")

                responder.stop()
                // The good answer is cached until its nextUpdate (5 min): still accepted, on a new connection too.
                try await withClient(try responder.client("good", trusting: pki)) { again in
                    let cached = try await call(again, url)
                    #expect(cached.status == 200, "\(cached.text)")
                }
                // A certificate never checked: its status is unknown while the responder is down, so refused.
                let unknown = try await call(later, url)
                #expect(unknown.status == 401)
                let challenge = unknown.headers["www-authenticate"] ?? ""
                #expect(challenge.contains("is unknown") && challenge.contains(responderURL), "\(challenge)")
                // Health says so.
                let degraded = try await ocspHealth { status, details in status == "DEGRADED" && details["responder0.last_error"] != nil }
                #expect(degraded?.1["responder0.last_error"]?.contains(responderURL) == true, "\(String(describing: degraded))")
            }
            }
            }
            }
        }
    }
}
