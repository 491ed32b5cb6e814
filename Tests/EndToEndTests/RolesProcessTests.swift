import AsyncHTTPClient
import AuthProtocol
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TestSupport

/// The `roles` binary killed with SIGKILL while it writes: every acknowledged write survives, nothing half-written
/// appears (each change is one transaction with its audit entry and the change counter).
@Suite(.serialized)
struct RolesProcessTests {
    static let admin = [
        "X-Auth-Principal": #""crash-tester""#, "X-Auth-Roles": #""admin""#, "X-Auth-Admin": "?1", "X-Auth-Method": "mtls",
        "X-Auth-Credential": "x5t#S256=test",
    ]

    /// What the writers were told succeeded.
    final class Acknowledged: Sendable {
        let rules = Mutex<Set<String>>([])
        let assignments = Mutex<Set<String>>([])
    }

    struct Roles {
        let process: Process
        let port: Int
        let management: Int
    }

    static func start(_ pki: TestPKI, database: [String: String], log: String) async throws -> Roles {
        let started = try await ProcessTests.startBound("roles", environment: pki.rolesEnvironment(database: database), log: log)
        return Roles(process: started.process, port: started.port, management: started.management)
    }

    static func send(
        _ client: HTTPClient, _ port: Int, _ method: HTTPMethod, _ path: String, json: String? = nil
    ) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: "https://localhost:\(port)\(path)")
        request.method = method
        for (name, value) in admin { request.headers.add(name: name, value: value) }
        if let json { request.body = .bytes(ByteBuffer(string: json)) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 << 20)
        return (Int(response.status.code), Data(body.readableBytesView))
    }

    /// Every mapping rule id, paging through search.
    static func allRuleIDs(_ client: HTTPClient, _ port: Int, path: String = "/v2/mapping-rules/search") async throws -> Set<String> {
        var ids = Set<String>()
        var from = 0
        while true {
            let reply = try await send(client, port, .POST, path, json: #"{"page": {"from": \#(from), "limit": 1000}}"#)
            #expect(reply.status == 200)
            let page = try JSONDecoder().decode(SearchResponse<MappingRule>.self, from: reply.body)
            ids.formUnion(page.items.map(\.mappingRuleId))
            from += page.items.count
            if page.items.isEmpty || from >= page.page.totalItems { return ids }
        }
    }

    /// Writers create rules and assign them to the role `crash`, until the server dies.
    static func write(_ client: HTTPClient, _ port: Int, cycle: Int, writer: Int, into acknowledged: Acknowledged) async {
        var index = 0
        while !Task.isCancelled {
            let id = "c\(cycle)-w\(writer)-\(index)"
            index += 1
            let body = #"{"mappingRuleId": "\#(id)", "claimName": "sub", "claimValue": "\#(id)", "name": "crash \#(id)"}"#
            guard let created = try? await send(client, port, .POST, "/v2/mapping-rules", json: body), created.status == 201 else { return }
            acknowledged.rules.withLock { _ = $0.insert(id) }
            guard let assigned = try? await send(client, port, .PUT, "/v2/roles/crash/mapping-rules/\(id)"), assigned.status == 204 else { return }
            acknowledged.assignments.withLock { _ = $0.insert(id) }
        }
    }

    func killLoop(database: [String: String], cycles: Int) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let client = try pki.serviceClient("authn")
        do {
            try await killLoop(database: database, cycles: cycles, pki: pki, client: client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func killLoop(database: [String: String], cycles: Int, pki: TestPKI, client: HTTPClient) async throws {
        let acknowledged = Acknowledged()

        var roles = try await Self.start(pki, database: database, log: pki.path("roles-0.log"))
        #expect(try await Self.send(client, roles.port, .POST, "/v2/roles", json: #"{"roleId": "crash", "name": "Crash test"}"#).status == 201)
        for cycle in 0..<cycles {
            let current = roles
            let port = current.port
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask { await Self.write(client, port, cycle: cycle, writer: writer, into: acknowledged) }
                }
                // Kill at a random moment once writes are flowing: first a write of this cycle acknowledged (on a
                // loaded machine a fixed delay once killed before any, and the count check failed), then a random delay.
                let before = acknowledged.rules.withLock { $0.count }
                let deadline = ContinuousClock.now + .seconds(60)
                while acknowledged.rules.withLock({ $0.count }) == before, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                try? await Task.sleep(for: .milliseconds(Int.random(in: 50...600)))
                kill(current.process.processIdentifier, SIGKILL)
                await group.waitForAll()
            }
            current.process.waitUntilExit()
            #expect(current.process.terminationReason == .uncaughtSignal)
            roles = try await Self.start(pki, database: database, log: pki.path("roles-\(cycle + 1).log"))
        }

        let stored = try await Self.allRuleIDs(client, roles.port)
        let assigned = try await Self.allRuleIDs(client, roles.port, path: "/v2/roles/crash/mapping-rules/search")
        let acknowledgedRules = acknowledged.rules.withLock { $0 }
        let acknowledgedAssignments = acknowledged.assignments.withLock { $0 }
        #expect(acknowledgedRules.count > cycles, "writes were flowing when the process was killed")
        #expect(acknowledgedRules.subtracting(stored).isEmpty, "acknowledged rules lost: \(acknowledgedRules.subtracting(stored).sorted())")
        #expect(acknowledgedAssignments.subtracting(assigned).isEmpty, "acknowledged assignments lost")
        #expect(assigned.isSubset(of: stored), "an assignment whose rule is missing")
        // Writes in flight at the kill may be there or not, but only whole: one audit entry and one counter step
        // per change (the role, each rule, each assignment).
        let audit = try await Self.send(client, roles.port, .GET, "/v2/audit-log?limit=1")
        let total = try JSONDecoder().decode(SearchResponse<AuditLogEntry>.self, from: audit.body).page.totalItems
        #expect(total == 1 + stored.count + assigned.count)
        let health = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(roles.management)/actuator/health"), timeout: .seconds(10))
        let state = try JSONDecoder().decode(HealthResponse.self, from: Data(try await health.body.collect(upTo: 1 << 20).readableBytesView))
        #expect(state.components["storage"]?.details?["version"] == String(total))

        roles.process.terminate()
        roles.process.waitUntilExit()
        #expect(roles.process.terminationStatus == 0)
        let logs = try (0...cycles).map { try String(contentsOfFile: pki.path("roles-\($0).log"), encoding: .utf8) }.joined()
        #expect(!logs.contains(TestPKI.password))
        if let password = database["CAMUNDA_DATABASE_URL"].flatMap({ URLComponents(string: $0)?.password }) {
            #expect(!logs.contains(password), "the database password appeared in a log")
        }
    }

    @Test func sigkillLosesNoAcknowledgedWriteOnSQLite() async throws {
        let directory = NSTemporaryDirectory() + "certauth-crash-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await killLoop(
            database: ["CAMUNDA_DATABASE_TYPE": "sqlite", "CAMUNDA_DATABASE_URL": directory + "/data/roles.sqlite"], cycles: 5)
    }

    @Test func sigkillLosesNoAcknowledgedWriteOnPostgreSQL() async throws {
        let url = try await PostgresTestServer.shared.newDatabaseURL()
        try await killLoop(database: ["CAMUNDA_DATABASE_TYPE": "postgresql", "CAMUNDA_DATABASE_URL": url], cycles: 2)
    }
}
