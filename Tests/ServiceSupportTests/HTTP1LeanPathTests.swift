import CertificateValidation
import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import HummingbirdHTTP2
import Keystore
import Logging
import NIOCore
import ServiceLifecycle
import ServiceSupport
import Synchronization
import Testing
import TestSupport

/// The lean path over HTTP/1.1 (issue 16 item 1: one request path for HTTP/1.1 and HTTP/2): gateways such as nginx
/// `auth_request` call authn over HTTP/1.1, and their answers come from the same ``ImmediateResponder`` as HTTP/2's,
/// in request order, with the router still serving everything else on the same connection.
@Suite struct HTTP1LeanPathTests {
    /// Answers `GET /lean` at once with `lean-N` unless the request carries `x-decline`; `/lean` on the router answers
    /// `router-lean`, so a test sees which path answered.
    final class Counting: ImmediateResponder {
        let count = Atomic<Int>(0)
        let metrics = RouteMetrics(route: "/lean", method: .get)

        func immediateAnswer(to request: ImmediateRequest) -> ImmediateAnswer? {
            guard request.method == .get, request.path == "/lean", !request.headers.contains("x-decline") else { return nil }
            let number = count.add(1, ordering: .relaxed).newValue
            return ImmediateAnswer(
                headers: [.contentType: "text/plain"], body: ByteBuffer(string: "lean-\(number)|"), metrics: metrics)
        }
    }

    static func withServer(_ body: (TestPKI, Int) async throws -> Void) async throws {
        let pki = try TestPKI.shared()
        let router = Router(context: ServiceRequestContext.self)
        router.get("/lean") { _, _ in "router-lean|" }
        router.get("/routed") { _, _ in "routed|" }
        router.get("/slow") { _, _ in
            try await Task.sleep(for: .milliseconds(400))
            return "slow|"
        }
        let credential = try KeystoreLoader.load(
            path: pki.path("roles.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .serverSSL
        ).credential
        let ca = try CertificatePEM.load(files: [pki.path("truststore.pem")], setting: "truststore")
        let tls = try ServerTLS.configuration(credential: credential, clientAuth: .need, trustRoots: ca)
        let handle = PortHandle()
        let app = try ListenerSettings(
            address: "127.0.0.1", port: 0, managementPort: 0, keystore: nil, clientAuth: .need, trustStore: nil
        ).application(
            name: "lean", router: router, tls: HummingbirdHTTP2.TLSChannelConfiguration(tlsConfiguration: tls), port: handle,
            logger: Logger(label: "lean"), immediate: Counting())
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: Logger(label: "lean")))
        let task = Task { try await group.run() }
        defer { task.cancel() }
        let port = await handle.port()
        do {
            try await body(pki, port)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// The bodies of the answers in `text`, in the order they came (each ends with `|`).
    static func bodies(_ text: String) -> [String] {
        text.split(separator: "\r\n\r\n").dropFirst().compactMap { part in
            part.split(separator: "|", maxSplits: 1).first.map(String.init)
        }.filter { !$0.hasPrefix("HTTP/") }
    }

    static func get(_ path: String, close: Bool = false, extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\(extra)\(close ? "Connection: close\r\n" : "")\r\n"
    }

    @Test func answersInRequestOrderOnOneConnectionWithTheRouterServingTheRest() async throws {
        try await Self.withServer { pki, port in
            let started = ContinuousClock.now
            // Sent at once (pipelined): two lean answers, a routed one, and a lean one declined by the responder.
            let answer = try await RawHTTP1.send(
                port: port, pki: pki, certificate: "client",
                request: Self.get("/lean") + Self.get("/lean") + Self.get("/routed") + Self.get("/lean", close: true, extra: "x-decline: 1\r\n"))
            let bodies = Self.bodies(answer.text)
            print("pipelined HTTP/1.1 answers: \(bodies)")
            #expect(bodies == ["lean-1", "lean-2", "routed", "router-lean"])
            #expect(ContinuousClock.now - started < .seconds(10), "Connection: close on the last request closed the connection")
            // A lean answer carries what the router's would: Date, Content-Length, a traceparent.
            let first = answer.text.components(separatedBy: "\r\n\r\n")[0].lowercased()
            #expect(first.hasPrefix("http/1.1 200"))
            #expect(first.contains("\r\ndate: ") && first.contains("\r\ncontent-length: 7") && first.contains("\r\ntraceparent: 00-"), "\(first)")
        }
    }

    @Test func aRequestBehindOneStillWithTheRouterWaitsItsTurn() async throws {
        try await Self.withServer { pki, port in
            // `/slow` takes 400 ms in the router; the `/lean` right behind it must not overtake it (HTTP/1.1 answers
            // leave in request order), so it goes to the router too.
            let answer = try await RawHTTP1.send(
                port: port, pki: pki, certificate: "client", request: Self.get("/slow") + Self.get("/lean", close: true))
            #expect(Self.bodies(answer.text) == ["slow", "router-lean"], "\(answer.text)")
        }
    }

    @Test func connectionCloseOnALeanAnswerClosesAfterIt() async throws {
        try await Self.withServer { pki, port in
            let started = ContinuousClock.now
            // Bytes after a `Connection: close` request are never answered.
            let answer = try await RawHTTP1.send(
                port: port, pki: pki, certificate: "client", request: Self.get("/lean", close: true) + Self.get("/routed"))
            #expect(Self.bodies(answer.text) == ["lean-1"], "\(answer.text)")
            #expect(answer.text.lowercased().contains("\r\nconnection: close\r\n"))
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }
}
