import AsyncHTTPClient
import CertificateValidation
import Foundation
import Hummingbird
import HummingbirdHTTP2
import Keystore
import Logging
import NIOCore
import NIOHTTP1
import ServiceClient
import ServiceLifecycle
import ServiceSupport
import Synchronization
import Testing
import TestSupport
import X509

/// The internal client over several replicas behind one name: servers on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all
/// loopback on Linux) on one port are replicas of `localhost` for a resolver the test controls (the real `getaddrinfo`
/// path is exercised by the multi-host test through /etc/netns hosts files). The certificate names `localhost`, and
/// TLS must keep verifying that name although the client connects to addresses.
@Suite struct PeerPoolTests {
    /// A replica answering `GET /whoami` with its name and `POST /v1/echo` with its name.
    /// A running replica; `stop()` shuts it down gracefully.
    struct Running {
        let group: ServiceGroup
        let task: Task<Void, any Error>
        let port: Int

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    static func start(_ name: String, address: String, port: Int, pki: TestPKI) async throws -> Running {
        let (app, handle) = try replica(name, address: address, port: port, pki: pki)
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: Logger(label: name)))
        let task = Task { try await group.run() }
        return Running(group: group, task: task, port: await handle.port())
    }

    static func replica(_ name: String, address: String, port: Int, pki: TestPKI) throws -> (any Service, PortHandle) {
        let router = Router(context: ServiceRequestContext.self)
        router.get("/whoami") { _, _ in name }
        router.post("/v1/echo") { _, _ in name }
        let credential = try KeystoreLoader.load(
            path: pki.path("roles.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .serverSSL
        ).credential
        let ca = try CertificatePEM.load(files: [pki.path("truststore.pem")], setting: "truststore")
        let tls = try ServerTLS.configuration(credential: credential, clientAuth: .need, trustRoots: ca)
        let handle = PortHandle()
        let app = try ListenerSettings(address: address, port: port, managementPort: 0, keystore: nil, clientAuth: .need, trustStore: nil).application(
            name: name, router: router, tls: HummingbirdHTTP2.TLSChannelConfiguration(tlsConfiguration: tls), port: handle,
            logger: Logger(label: name))
        return (app, handle)
    }

    static func client(
        pki: TestPKI, port: Int, logs: CapturedLogs, resolver: @escaping @Sendable (String) throws -> [String]
    ) throws -> InternalClient {
        let credential = try KeystoreLoader.load(
            path: pki.path("authn.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .serverSSL
        ).credential
        return try InternalClient.make(
            service: "roles", baseURL: try #require(URL(string: "https://localhost:\(port)")), credential: credential,
            trustRoots: try CertificatePEM.load(files: [pki.path("truststore.pem")], setting: "truststore"), timeout: .seconds(10),
            resolveInterval: .milliseconds(200), resolver: resolver, logger: logs.logger("authn"))
    }

    @Test func spreadsOverEveryAddressAndFollowsReplicasComingAndGoing() async throws {
        let pki = try TestPKI.shared()
        let logs = CapturedLogs()
        let first = try await Self.start("replica-a", address: "127.0.0.1", port: 0, pki: pki)
        let port = first.port
        let second = try await Self.start("replica-b", address: "127.0.0.2", port: port, pki: pki)
        let dns = Mutex(["127.0.0.1", "127.0.0.2"])
        let client = try Self.client(pki: pki, port: port, logs: logs) { _ in dns.withLock { $0 } }

        var third: Running?
        do {
            func tally(_ calls: Int) async throws -> [String: Int] {
                var seen: [String: Int] = [:]
                for index in 0..<calls {
                    let post = index.isMultiple(of: 2)
                    let answer = try await client.send(
                        method: post ? .POST : .GET, path: post ? "/v1/echo" : "/whoami", headers: [:],
                        body: post ? ByteBuffer(string: "{}") : nil, trace: nil)
                    #expect(answer.status == 200)
                    seen[String(buffer: answer.body), default: 0] += 1
                }
                return seen
            }

            var seen = try await tally(20)
            print("two replicas: 20 calls to https://localhost:\(port) went \(seen)")
            #expect(seen["replica-a", default: 0] >= 5 && seen["replica-b", default: 0] >= 5, "both replicas get requests: \(seen)")

            // One replica stops without leaving DNS: every call still succeeds, on the other one, POSTs included (they
            // fail before anything is sent, so moving them is safe).
            await second.stop()
            seen = try await tally(20)
            print("replica-b stopped: \(seen)")
            #expect(seen == ["replica-a": 20])
            #expect(logs.all.contains { $0.contains("does not answer") && $0.contains("127.0.0.2") }, "the pool says which replica it left")

            // A new replica appears under the name: it gets requests after the next lookup.
            third = try await Self.start("replica-c", address: "127.0.0.3", port: port, pki: pki)
            dns.withLock { $0 = ["127.0.0.1", "127.0.0.3"] }
            try await Task.sleep(for: .milliseconds(300))
            try await client.peers.refresh()
            seen = try await tally(20)
            print("replica-c added, replica-b gone from DNS: \(seen)")
            #expect(seen["replica-c", default: 0] >= 5 && seen["replica-b"] == nil, "\(seen)")
            #expect(Set(await client.peers.addresses()) == ["127.0.0.1", "127.0.0.3"])
        } catch {
            await client.peers.shutdown()
            for replica in [first, second, third].compactMap({ $0 }) { await replica.stop() }
            throw error
        }
        await client.peers.shutdown()
        await first.stop()
        await third?.stop()
    }

    @Test func aLookupThatFailsKeepsTheKnownAddressesAndIsNotRetriedOnEveryRequest() async throws {
        let pki = try TestPKI.shared()
        let logs = CapturedLogs()
        let replica = try await Self.start("replica-a", address: "127.0.0.1", port: 0, pki: pki)
        let lookups = Mutex(0)
        struct DNSDown: Error {}
        let client = try Self.client(pki: pki, port: replica.port, logs: logs) { _ in
            let count = lookups.withLock { $0 += 1; return $0 }
            if count == 1 { return ["127.0.0.1"] }
            throw DNSDown()
        }
        let started = ContinuousClock.now
        do {
            for _ in 0..<30 {
                let answer = try await client.send(method: .GET, path: "/whoami", headers: [:], body: nil, trace: nil)
                #expect(answer.status == 200)
                try await Task.sleep(for: .milliseconds(20))
            }
        } catch {
            await client.peers.shutdown()
            await replica.stop()
            throw error
        }
        // At most one lookup per 200 ms interval (plus the first), not one per request, however slow the machine.
        let elapsed = ContinuousClock.now - started
        let count = lookups.withLock { $0 }
        let bound = Int(elapsed / .milliseconds(200)) + 2
        print("30 requests in \(elapsed) while DNS fails: \(count) lookups (bound \(bound))")
        #expect(count <= bound && count < 30, "lookups: \(count)")
        #expect(Set(await client.peers.addresses()) == ["127.0.0.1"])
        #expect(logs.all.contains { $0.contains("cannot resolve localhost") })
        await client.peers.shutdown()
        await replica.stop()
    }

    @Test func aNameThatDoesNotResolveIsAClearError() async throws {
        let pki = try TestPKI.shared()
        let logs = CapturedLogs()
        let credential = try KeystoreLoader.load(
            path: pki.path("authn.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .serverSSL
        ).credential
        let client = try InternalClient.make(
            service: "token-issuer", baseURL: try #require(URL(string: "https://no-such-host.invalid:8444")), credential: credential,
            trustRoots: try CertificatePEM.load(files: [pki.path("truststore.pem")], setting: "truststore"), logger: logs.logger("authn"))
        await #expect(throws: InternalCallError.self) {
            _ = try await client.send(method: .GET, path: "/", headers: [:], body: nil, trace: nil)
        }
        do {
            _ = try await client.send(method: .GET, path: "/", headers: [:], body: nil, trace: nil)
        } catch {
            #expect(error.message.contains("cannot resolve no-such-host.invalid"), "\(error.message)")
        }
        await client.peers.shutdown()
    }
}
