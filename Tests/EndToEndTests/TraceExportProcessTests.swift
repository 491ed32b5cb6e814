import AsyncHTTPClient
import DevPKI
import Foundation
import HTTPTypes
import Logging
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TestSupport

/// Trace export (issue 18 item 6): the real service processes send their spans over OTLP/HTTP (protobuf) to a
/// collector this test runs, and the spans hang together with the callers' `traceparent` and the log lines' trace_id.
@Suite(.serialized)
struct TraceExportProcessTests {
    @Test func servicesExportSpansThatContinueTheCallersTrace() async throws {
        let collector = try await OTLPCollector.start()
        defer { collector.stop() }
        let pki = try TestPKI()
        defer { pki.remove() }
        let export = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(collector.port)",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e,certauth.test=trace-export",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        ]
        var processes: [Process] = []
        defer { for process in processes where process.isRunning { process.terminate(); process.waitUntilExit() } }
        let emulator = try await ProcessTests.startBound("entra-emulator", environment: pki.emulatorEnvironment(extra: export), log: pki.path("emulator.log"))
        processes.append(emulator.process)
        let issuer = try await ProcessTests.startBound("token-issuer", environment: pki.tokenIssuerEnvironment(
            emulatorPort: emulator.port, extra: export.merging(["OTEL_SERVICE_NAME": "token-issuer-e2e"]) { $1 }), log: pki.path("issuer.log"))
        processes.append(issuer.process)
        let roles = try await ProcessTests.startBound("roles", environment: pki.rolesEnvironment(
            database: ["CAMUNDA_DATABASE_URL": pki.path("roles.sqlite")], extra: export), log: pki.path("roles.log"))
        processes.append(roles.process)
        let authn = try await ProcessTests.startBound("authn", environment: [
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": "https://localhost:\(emulator.port)/\(TestPKI.tenantID)/v2.0",
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
            "CAMUNDA_ROLES_URL": "https://localhost:\(roles.port)",
        ].merging(export) { $1 }, log: pki.path("authn.log"))
        processes.append(authn.process)

        let workload = try pki.workloadClient()
        do {
            try await check(collector: collector, pki: pki, issuer: issuer, authn: authn, workload: workload)
        } catch {
            Issue.record(error)
        }
        try await workload.shutdown()
    }

    func check(collector: OTLPCollector, pki: TestPKI, issuer: ProcessTests.Started, authn: ProcessTests.Started, workload: HTTPClient) async throws {
        // A token request that continues the caller's trace: the router path (the first request for this scope).
        let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736", callerSpan = "00f067aa0ba902b7"
        var request = HTTPClientRequest(url: "https://localhost:\(issuer.port)/v1/token")
        request.method = .POST
        request.headers.add(name: "traceparent", value: "00-\(callerTrace)-\(callerSpan)-01")
        request.body = .bytes(ByteBuffer(string: "{}"))
        let response = try await workload.execute(request, timeout: .seconds(30))
        let tokenBody = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status == .ok)
        let answered = response.headers.first(name: "traceparent") ?? ""
        #expect(answered.hasPrefix("00-\(callerTrace)-"), "the answer continues the caller's trace: \(answered)")

        let server = try await collector.span(service: "token-issuer-e2e", named: "POST /v1/token", trace: callerTrace)
        #expect(server.kind == .server)
        #expect(server.parentSpanID == callerSpan, "the server span is the child of the caller's span")
        #expect(answered == "00-\(callerTrace)-\(server.spanID)-01", "the answer's traceparent names the server span")
        #expect(server.attributes["http.response.status_code"] == "200")
        #expect(server.attributes["http.route"] == "/v1/token")
        let exchange = try await collector.span(service: "token-issuer-e2e", named: "token exchange", trace: callerTrace)
        #expect(exchange.kind == .client)
        #expect(exchange.parentSpanID == server.spanID, "the token exchange is part of the request")
        #expect(exchange.attributes["http.response.status_code"] == "200")
        // The emulator (an IdP that honours traceparent) continues the exchange's span.
        // AsyncHTTPClient's own span of the HTTP POST is under the exchange, and the IdP's server span under that.
        let post = try await collector.span(service: "token-issuer-e2e", named: "POST", trace: callerTrace)
        #expect(post.kind == .client && post.parentSpanID == exchange.spanID)
        let idp = try await collector.span(service: "entra-emulator", trace: callerTrace) { $0.kind == .server }
        #expect(idp.parentSpanID == post.spanID, "the IdP's span is a child of the exchange's POST")
        // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are the resource's.
        #expect(server.resource["service.name"] == "token-issuer-e2e")
        #expect(server.resource["deployment.environment"] == "e2e" && server.resource["certauth.test"] == "trace-export")
        #expect(idp.resource["service.name"] == "entra-emulator", "the executable's name by default")
        // The log lines of the exchange carry the span's trace id.
        let issuerLog = try String(contentsOfFile: pki.path("issuer.log"), encoding: .utf8)
        let issued = issuerLog.split(separator: "\n").filter { $0.contains("Token issued by IdP") }
        #expect(!issued.isEmpty && issued.allSatisfy { $0.contains(#""trace_id":"\#(callerTrace)""#) }, "\(issued)")
        #expect(issuerLog.contains("Exporting traces over OTLP/HTTP"))

        // The same request again is answered on the lean path: still a server span, in the new caller's trace.
        let leanTrace = "0af7651916cd43dd8448eb211c80319c"
        request.headers.replaceOrAdd(name: "traceparent", value: "00-\(leanTrace)-b7ad6b7169203331-01")
        let again = try await workload.execute(request, timeout: .seconds(30))
        _ = try await again.body.collect(upTo: 1 << 20)
        #expect(again.status == .ok)
        let lean = try await collector.span(service: "token-issuer-e2e", named: "POST /v1/token", trace: leanTrace)
        #expect(lean.kind == .server && lean.parentSpanID == "b7ad6b7169203331")
        #expect(again.headers.first(name: "traceparent") == "00-\(leanTrace)-\(lean.spanID)-01")
        #expect(collector.spans(trace: leanTrace).allSatisfy { $0.name != "token exchange" }, "the cached token: no exchange")

        // authn with that token: the request, the roles resolution and its call to roles, and roles' own server span.
        struct Token: Decodable { var access_token: String }
        let token = try JSONDecoder().decode(Token.self, from: Data(tokenBody.readableBytesView)).access_token
        let authnTrace = "11111111111111111111111111111111"
        var me = HTTPClientRequest(url: "https://localhost:\(authn.port)/v2/authentication/me")
        me.headers.add(name: "authorization", value: "Bearer \(token)")
        me.headers.add(name: "traceparent", value: "00-\(authnTrace)-2222222222222222-01")
        let meResponse = try await workload.execute(me, timeout: .seconds(30))
        _ = try await meResponse.body.collect(upTo: 1 << 20)
        #expect(meResponse.status == .ok)
        let authnServer = try await collector.span(service: "authn", named: "GET /v2/authentication/me", trace: authnTrace)
        let resolution = try await collector.span(service: "authn", named: "roles resolution", trace: authnTrace)
        #expect(resolution.parentSpanID == authnServer.spanID)
        let call = try await collector.span(service: "authn", named: "POST roles /v1/resolve", trace: authnTrace)
        #expect(call.kind == .client && call.parentSpanID == resolution.spanID)
        let callPost = try await collector.span(service: "authn", named: "POST", trace: authnTrace)
        #expect(callPost.kind == .client && callPost.parentSpanID == call.spanID)
        let rolesServer = try await collector.span(service: "roles", named: "POST /v1/resolve", trace: authnTrace)
        #expect(rolesServer.kind == .server && rolesServer.parentSpanID == callPost.spanID)
        let authnLog = try String(contentsOfFile: pki.path("authn.log"), encoding: .utf8)
        #expect(!authnLog.contains(token), "no token in authn's log")

        // The roles store's database calls and authn's JWKS fetch (at start: spans of their own traces).
        let load = try await collector.span(service: "roles") { $0.name == "roles-store load" }
        #expect(load.kind == .client && load.attributes["db.system.name"] == "sqlite")
        let jwks = try await collector.span(service: "authn") { $0.name == "JWKS fetch" }
        #expect(jwks.kind == .client && Int(jwks.attributes["jwks.key_count"] ?? "") ?? 0 > 0)
        #expect(collector.contentTypes().allSatisfy { $0 == "application/x-protobuf" }, "\(collector.contentTypes())")
    }

    /// A write through roles' `/v2` API (as authn forwards it) is a request span with the roles store's database call
    /// under it; and the spans of the last requests leave at SIGTERM although the batch delay (60 s) has not passed.
    @Test func aRolesWriteSpansItsDatabaseCallAndTheLastSpansAreSentAtShutdown() async throws {
        let collector = try await OTLPCollector.start()
        defer { collector.stop() }
        let pki = try TestPKI()
        defer { pki.remove() }
        let roles = try await ProcessTests.startBound("roles", environment: pki.rolesEnvironment(
            database: ["CAMUNDA_DATABASE_URL": pki.path("roles.sqlite")],
            extra: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(collector.port)", "OTEL_BSP_SCHEDULE_DELAY": "60000"]),
            log: pki.path("roles.log"))
        defer { if roles.process.isRunning { roles.process.terminate(); roles.process.waitUntilExit() } }
        let client = try pki.serviceClient("authn")
        let trace = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
        var request = HTTPClientRequest(url: "https://localhost:\(roles.port)/v2/mapping-rules")
        request.method = .POST
        for (name, value) in RolesProcessTests.admin { request.headers.add(name: name, value: value) }
        request.headers.add(name: "traceparent", value: "00-\(trace)-6b6b6b6b6b6b6b6b-01")
        request.body = .bytes(ByteBuffer(string: #"{"mappingRuleId": "traced", "claimName": "sub", "claimValue": "traced", "name": "traced"}"#))
        let status: HTTPResponseStatus
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            status = response.status
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        #expect(status == .created)
        #expect(collector.spans(trace: trace).isEmpty, "nothing sent before the batch delay")

        roles.process.terminate()
        roles.process.waitUntilExit()
        #expect(roles.process.terminationStatus == 0)
        let server = try await collector.span(service: "roles", named: "POST /v2/mapping-rules", trace: trace)
        #expect(server.kind == .server && server.parentSpanID == "6b6b6b6b6b6b6b6b")
        let apply = try await collector.span(service: "roles", named: "roles-store apply", trace: trace)
        #expect(apply.kind == .client && apply.parentSpanID == server.spanID)
        #expect(apply.attributes["db.system.name"] == "sqlite" && apply.attributes["db.operation.name"] == "apply")
    }

    @Test(arguments: [
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "otel-collector:4318"], "OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' is not an http(s) URL"),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"],
         "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported"),
        (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"],
         "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' is not supported (the exporter's OTLP/JSON writes trace ids in base64"),
    ])
    func badTraceExportSettingsPrintOneLineAndExit1(overrides: [String: String], expected: String) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let process = try ProcessTests.start("roles", environment: pki.rolesEnvironment(
            database: ["CAMUNDA_DATABASE_URL": pki.path("roles.sqlite")], extra: overrides), log: pki.path("bad.log"))
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        let output = try String(contentsOfFile: pki.path("bad.log"), encoding: .utf8)
        #expect(output.split(separator: "\n").count == 1 && output.contains(expected), "\(output)")
    }
}

/// A span as an OTLP/HTTP export request carries it, with its resource's attributes.
struct ExportedSpan: Sendable, CustomStringConvertible {
    enum Kind: Int, Sendable { case unspecified = 0, `internal`, server, client, producer, consumer }
    var traceID = "", spanID = "", parentSpanID = "", name = ""
    var kind = Kind.unspecified
    var attributes: [String: String] = [:]
    var resource: [String: String] = [:]

    var description: String { "\(resource["service.name"] ?? "?") \(kind) '\(name)' \(traceID)/\(spanID) parent \(parentSpanID)" }
}

/// The collector of the test: a Hummingbird server on 127.0.0.1 port 0 taking `POST /v1/traces`
/// (ExportTraceServiceRequest, protobuf) and answering as OTLP/HTTP asks (200, an empty ExportTraceServiceResponse).
final class OTLPCollector: Sendable {
    let port: Int
    private let received = Mutex<(spans: [ExportedSpan], contentTypes: [String], errors: [String])>(([], [], []))
    private let task = Mutex<Task<Void, any Error>?>(nil)

    private init(port: Int) { self.port = port }

    static func start() async throws -> OTLPCollector {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let box = Mutex<OTLPCollector?>(nil)
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let contentType = request.headers[.contentType] ?? ""
            box.withLock { $0 }?.receive(Array(body.readableBytesView), contentType: contentType)
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init())
        }
        var quiet = Logger(label: "otlp-collector")
        quiet.logLevel = .critical  // its cancellation at the end is not an error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: quiet)
        let running = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            running.cancel()
            throw CommandError("the OTLP collector did not bind a port")
        }
        let collector = OTLPCollector(port: port)
        box.withLock { $0 = collector }
        collector.task.withLock { $0 = running }
        return collector
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }

    func receive(_ body: [UInt8], contentType: String) {
        do {
            let spans = try OTLPDecoding.spans(in: body)
            received.withLock { $0.spans += spans; $0.contentTypes.append(contentType) }
        } catch {
            received.withLock { $0.errors.append("\(error)"); $0.contentTypes.append(contentType) }
        }
    }

    func contentTypes() -> [String] { received.withLock { $0.contentTypes } }

    func spans(trace: String) -> [ExportedSpan] {
        received.withLock { $0.spans.filter { $0.traceID == trace } }
    }

    /// Waits (up to 30 s: the exporters send every 100 ms here) for the first span of `service` that `matches`.
    func span(service: String, named name: String? = nil, trace: String? = nil,
              matching matches: @Sendable (ExportedSpan) -> Bool = { _ in true }) async throws -> ExportedSpan {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let (spans, errors) = received.withLock { ($0.spans, $0.errors) }
            guard errors.isEmpty else { throw CommandError("undecodable OTLP export: \(errors)") }
            if let found = spans.first(where: {
                $0.resource["service.name"] == service && (name == nil || $0.name == name) && (trace == nil || $0.traceID == trace) && matches($0)
            }) { return found }
            guard ContinuousClock.now < deadline else {
                throw CommandError("no span '\(name ?? "(any)")' of \(service) in trace \(trace ?? "(any)") among: \(spans.map(\.description).joined(separator: "; "))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// Just enough of the protobuf wire format to read OTLP's trace export request (opentelemetry-proto's
/// `ExportTraceServiceRequest` → `ResourceSpans` → `ScopeSpans` → `Span`, and `KeyValue` / `AnyValue` attributes).
enum OTLPDecoding {
    struct Malformed: Error, CustomStringConvertible { var description: String }

    enum Value { case varint(UInt64), bytes(ArraySlice<UInt8>), fixed }

    /// The fields of one message, in order.
    static func fields(_ data: ArraySlice<UInt8>) throws -> [(number: Int, value: Value)] {
        var index = data.startIndex
        func varint() throws -> UInt64 {
            var result: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard index < data.endIndex, shift < 64 else { throw Malformed(description: "truncated varint") }
                let byte = data[index]
                index += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        var out: [(Int, Value)] = []
        while index < data.endIndex {
            let key = try varint()
            switch key & 7 {
            case 0: out.append((Int(key >> 3), .varint(try varint())))
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard data.endIndex - index >= width else { throw Malformed(description: "truncated fixed field") }
                index += width
                out.append((Int(key >> 3), .fixed))
            case 2:
                let length = Int(try varint())
                guard length >= 0, data.endIndex - index >= length else { throw Malformed(description: "truncated field") }
                out.append((Int(key >> 3), .bytes(data[index..<(index + length)])))
                index += length
            default: throw Malformed(description: "wire type \(key & 7)")
            }
        }
        return out
    }

    static func messages(_ data: ArraySlice<UInt8>, _ number: Int) throws -> [ArraySlice<UInt8>] {
        try fields(data).compactMap { field in
            guard field.number == number, case .bytes(let bytes) = field.value else { return nil }
            return bytes
        }
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// `KeyValue` list (field `number` of `data`) as strings.
    static func attributes(_ data: ArraySlice<UInt8>, _ number: Int) throws -> [String: String] {
        var out: [String: String] = [:]
        for pair in try messages(data, number) {
            let key = try messages(pair, 1).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            guard let value = try messages(pair, 2).first else { continue }
            for field in try fields(value) {
                switch (field.number, field.value) {
                case (1, .bytes(let text)): out[key] = String(decoding: text, as: UTF8.self)
                case (2, .varint(let flag)): out[key] = flag == 0 ? "false" : "true"
                case (3, .varint(let number)): out[key] = String(Int64(bitPattern: number))
                default: break
                }
            }
        }
        return out
    }

    static func spans(in body: [UInt8]) throws -> [ExportedSpan] {
        var out: [ExportedSpan] = []
        for resourceSpans in try messages(body[...], 1) {
            let resource = try messages(resourceSpans, 1).first.map { try attributes($0, 1) } ?? [:]
            for scopeSpans in try messages(resourceSpans, 2) {
                for message in try messages(scopeSpans, 2) {
                    var span = ExportedSpan(resource: resource)
                    for field in try fields(message) {
                        switch (field.number, field.value) {
                        case (1, .bytes(let bytes)): span.traceID = hex(bytes)
                        case (2, .bytes(let bytes)): span.spanID = hex(bytes)
                        case (4, .bytes(let bytes)): span.parentSpanID = hex(bytes)
                        case (5, .bytes(let bytes)): span.name = String(decoding: bytes, as: UTF8.self)
                        case (6, .varint(let kind)): span.kind = ExportedSpan.Kind(rawValue: Int(kind)) ?? .unspecified
                        default: break
                        }
                    }
                    span.attributes = try attributes(message, 9)
                    out.append(span)
                }
            }
        }
        return out
    }
}
