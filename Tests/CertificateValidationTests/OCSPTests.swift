import AsyncHTTPClient
import CertificateValidation
import Foundation
import NIOCore
import Testing
import TestSupport
import X509

/// `openssl ocsp -index … -port` (an independent implementation) answering for an `openssl ca` CA, started by the
/// test on a port it checks this very process holds (issue 17 item 4).
final class OpenSSLOCSPResponder: Sendable {
    let process: Process
    let port: Int
    let ca: OpenSSLCA

    /// Issues `names` with the responder's URL in authorityInfoAccess, revokes `revoked`, then starts the responder.
    /// A port taken by another process between the pick and the bind: new port, new certificates (up to 5 times).
    init(names: [String], revoked: [String]) async throws {
        var made: OpenSSLCA?
        let started = try await ListeningProcess.start("openssl ocsp", seconds: 10) { port, attempt in
            let ca = try OpenSSLCA(name: "OCSP Test CA \(attempt)")
            made = ca
            try ca.directory.write("aia.ext", """
                basicConstraints = CA:FALSE
                keyUsage = digitalSignature
                extendedKeyUsage = clientAuth
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid
                authorityInfoAccess = OCSP;URI:http://127.0.0.1:\(port)/

                """)
            for name in names {
                try ca.run(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
                try ca.run(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "\(name).csr",
                            "-out", "\(name).crt", "-notext", "-extfile", "aia.ext"])
            }
            for name in revoked { try ca.revoke(name) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            // The CA signs its own responses; nextUpdate one minute on.
            process.arguments = ["ocsp", "-index", "index.txt", "-port", String(port), "-rsigner", "ca.crt", "-rkey", "ca.key",
                                 "-CA", "ca.crt", "-nmin", "1"]
            process.currentDirectoryURL = URL(fileURLWithPath: ca.directory.path)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            return process
        }
        self.process = started.process
        self.port = started.port
        self.ca = try #require(made)
    }

    /// SIGKILL: `openssl ocsp` waits for its next connection before it acts on SIGTERM.
    func stop() {
        ListeningProcess.stop(process)
    }

    func certificate(_ name: String) throws -> Certificate {
        try CertificatePEM.load(files: [ca.directory.file("\(name).crt")], setting: name)[0]
    }
}

@Suite(.serialized)
struct OCSPTests {
    static func validator(_ anchor: Certificate, client: OCSPClient, failure: RevocationFailurePolicy = .closed, mode: RevocationMode = .ocsp, crls: CRLStore? = nil) -> ClientCertificateValidator {
        var settings = CertificateValidationSettings(trustedCertificates: [anchor])
        settings.revocation = RevocationSettings(
            mode: mode, failure: failure, crls: crls, ocsp: client, failureSetting: AuthnSettingNames.revocationFailure)
        return ClientCertificateValidator(settings: settings)
    }

    static func withHTTP<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let result = try await body(http)
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    @Test func goodRevokedCachedAndResponderDown() async throws {
        let responder = try await OpenSSLOCSPResponder(names: ["good", "bad"], revoked: ["bad"])
        defer { responder.stop() }
        let anchor = try responder.ca.anchor
        let good = try responder.certificate("good")
        let bad = try responder.certificate("bad")
        try await Self.withHTTP { http in
            let client = OCSPClient(http: http)
            let closed = Self.validator(anchor, client: client)
            let now = Date()
            let validated = try await closed.validate(leaf: good, intermediates: [], at: now)
            // The verdict holds until the response's nextUpdate (-nmin 1: a minute after openssl answered), not longer.
            let until = try #require(validated.revocationCheckedUntil)
            #expect(until > now && until <= Date().addingTimeInterval(61), "\(until)")
            #expect(client.responders["http://127.0.0.1:\(responder.port)/"]?.lastSuccess != nil)

            await expectRefusal(.revoked, mentioning: ["revoked", "responder http://127.0.0.1:\(responder.port)/"]) {
                try await closed.validate(leaf: bad, intermediates: [])
            }

            // Responder gone: the cached answer still serves (until its nextUpdate)...
            responder.stop()
            _ = try await closed.validate(leaf: good, intermediates: [])
            await expectRefusal(.revoked, mentioning: ["revoked"]) { try await closed.validate(leaf: bad, intermediates: []) }
            // ...a fresh client has nothing cached: closed refuses, open accepts, and the status says why.
            let fresh = OCSPClient(http: http, timeout: .seconds(2))
            await expectRefusal(.revocationUnknown, mentioning: ["is unknown", "OCSP responder http://127.0.0.1:\(responder.port)/", "REVOCATION_FAILURE=open"]) {
                try await Self.validator(anchor, client: fresh).validate(leaf: good, intermediates: [])
            }
            #expect(fresh.responders["http://127.0.0.1:\(responder.port)/"]?.lastError != nil)
            let open = try await Self.validator(anchor, client: fresh, failure: .open).validate(leaf: good, intermediates: [])
            // An unchecked verdict is held briefly only.
            #expect((open.revocationCheckedUntil ?? .distantFuture) <= Date().addingTimeInterval(31))
            // A cached answer never outlives its nextUpdate: validated just after it, the cache is not used (relative
            // to the answer's own nextUpdate: on a loaded machine the responder answered long after `now`).
            await expectRefusal(.revocationUnknown, mentioning: ["is unknown"]) {
                try await closed.validate(leaf: good, intermediates: [], at: until.addingTimeInterval(1))
            }
        }
    }

    @Test func aCertificateWithoutAResponderHasAnUnknownStatus() async throws {
        let ca = try OpenSSLCA(name: "No AIA CA")
        let plain = try ca.issue("plain")
        try await Self.withHTTP { http in
            let client = OCSPClient(http: http)
            await expectRefusal(.revocationUnknown, mentioning: ["no OCSP responder", "CN=plain"]) {
                try await Self.validator(try ca.anchor, client: client).validate(leaf: plain, intermediates: [])
            }
            _ = try await Self.validator(try ca.anchor, client: client, failure: .open).validate(leaf: plain, intermediates: [])
        }
    }

    @Test func crlAndOCSPBothCount() async throws {
        let responder = try await OpenSSLOCSPResponder(names: ["good", "bad"], revoked: ["bad"])
        defer { responder.stop() }
        let crl = try responder.ca.crl()
        let store = try CRLStore(paths: [crl], setting: "crl")
        try await Self.withHTTP { http in
            let validator = Self.validator(try responder.ca.anchor, client: OCSPClient(http: http), mode: .crlAndOCSP, crls: store)
            _ = try await validator.validate(leaf: try responder.certificate("good"), intermediates: [])
            await expectRefusal(.revoked, mentioning: ["revoked"]) {
                try await validator.validate(leaf: try responder.certificate("bad"), intermediates: [])
            }
        }
    }

    @Test func verifyChainAsksTheResponder() async throws {
        let responder = try await OpenSSLOCSPResponder(names: ["good", "bad"], revoked: ["bad"])
        defer { responder.stop() }
        let ca = responder.ca.directory
        let good = try runProcess(VerifyChainCLITests.binary, ["verify-chain", "--trusted", ca.file("ca.crt"), "--leaf", ca.file("good.crt"), "--ocsp"])
        #expect(good.status == 0, "\(good.output)")
        let bad = try runProcess(VerifyChainCLITests.binary, ["verify-chain", "--trusted", ca.file("ca.crt"), "--leaf", ca.file("bad.crt"), "--ocsp", "--json"])
        #expect(bad.status == 1, "\(bad.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bad.output.utf8)) as? [String: Any])
        #expect(object["code"] as? String == "revoked")
        #expect((object["reason"] as? String)?.contains("revoked") == true)
    }
}
