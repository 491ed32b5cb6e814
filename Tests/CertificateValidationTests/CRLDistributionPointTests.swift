import AsyncHTTPClient
@testable import CertificateValidation
import Foundation
import Testing
import TestSupport
import Synchronization
import X509

/// The CRL distribution points extension read with SwiftASN1 from certificates `openssl` made, and CRLs fetched from
/// them: made by `openssl ca -gencrl`, served by Python's http.server on a port the test checks it holds (issue 17
/// item 4).
@Suite(.serialized)
struct CRLDistributionPointTests {
    /// A self-signed certificate made by `openssl req -x509` with the extension section `extensions`.
    static func certificate(extensions: String) throws -> Certificate {
        let directory = try TemporaryDirectory("cdp")
        try directory.write("req.cnf", """
            [ req ]
            distinguished_name = dn
            [ dn ]
            \(extensions)

            """)
        let result = try runProcess("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "k.pem", "-out", "c.pem",
            "-subj", "/CN=cdp", "-days", "1", "-config", "req.cnf", "-extensions", "ext",
        ], in: directory.path)
        guard result.status == 0 else { throw HelperError(description: result.output) }
        return try CertificatePEM.load(files: [directory.file("c.pem")], setting: "c.pem")[0]
    }

    @Test func urisOfFullNamesAreRead() throws {
        let simple = try Self.certificate(extensions: """
            [ ext ]
            crlDistributionPoints = URI:http://crl.example/ca.crl, URI:ldap://ldap.example/cn=CA?certificateRevocationList
            """)
        let points = try #require(try CRLDistributionPoints(simple))
        #expect(points.uris == ["http://crl.example/ca.crl", "ldap://ldap.example/cn=CA?certificateRevocationList"])
        #expect(points.httpURIs() == ["http://crl.example/ca.crl"])
    }

    @Test func indirectAndPartitionedPointsAreSkipped() throws {
        let sections = try Self.certificate(extensions: """
            [ ext ]
            crlDistributionPoints = dp_plain, dp_indirect, dp_reasons, dp_two
            [ dp_plain ]
            fullname = URI:http://plain.example/ca.crl
            [ dp_indirect ]
            fullname = URI:http://indirect.example/ca.crl
            CRLissuer = dirName:issuer_dn
            [ dp_reasons ]
            fullname = URI:http://reasons.example/ca.crl
            reasons = keyCompromise
            [ dp_two ]
            fullname = URI:http://two.example/a.crl, email:ca@example.org, URI:http://two.example/b.crl
            [ issuer_dn ]
            CN = Other CA
            """)
        let points = try #require(try CRLDistributionPoints(sections))
        #expect(points.uris == ["http://plain.example/ca.crl", "http://two.example/a.crl", "http://two.example/b.crl"])
    }

    @Test func absentAndMalformed() throws {
        let none = try Self.certificate(extensions: """
            [ ext ]
            basicConstraints = CA:FALSE
            """)
        #expect(try CRLDistributionPoints(none) == nil)
        #expect(throws: (any Error).self) { try CRLDistributionPoints(derEncoded: [0x04, 0x01, 0x00]) }
        #expect(throws: (any Error).self) { try CRLDistributionPoints(derEncoded: [0x30, 0x03, 0x02, 0x01, 0x00]) }
    }

    @Test func refreshesAheadOfNextUpdateAndNotTooOften() throws {
        let ca = try OpenSSLCA()
        let lists = try RevocationList.parse(Array(try Data(contentsOf: URL(fileURLWithPath: try ca.crl()))))
        let next = try #require(lists.first?.nextUpdate)  // 7 days on: a tenth is over five minutes
        let now = Date()
        #expect(CRLFetcher.refreshTime(lists: lists, now: now, maximumAge: 30 * 86_400, minimumGap: 5) == next.addingTimeInterval(-300))
        #expect(CRLFetcher.refreshTime(lists: lists, now: now, maximumAge: 3600, minimumGap: 5) == now.addingTimeInterval(3600))
        // A CRL already stale: asked again after the minimum gap, not at once.
        let late = next.addingTimeInterval(10)
        #expect(CRLFetcher.refreshTime(lists: lists, now: late, maximumAge: 3600, minimumGap: 5) == late.addingTimeInterval(5))
    }

    static func validator(
        _ anchor: Certificate, fetcher: CRLFetcher, failure: RevocationFailurePolicy = .closed
    ) -> ClientCertificateValidator {
        var settings = CertificateValidationSettings(trustedCertificates: [anchor])
        settings.revocation = RevocationSettings(mode: .crl, failure: failure, fetcher: fetcher, failureSetting: AuthnSettingNames.revocationFailure)
        return ClientCertificateValidator(settings: settings)
    }

    static func load(_ path: String) throws -> Certificate {
        try CertificatePEM.load(files: [path], setting: path)[0]
    }

    @Test func fetchedCRLsRevokeAreRefreshedAndAnOutageFollowsThePolicy() async throws {
        let dp = try await CRLDistribution()
        defer { dp.remove() }
        let good = try Self.load(try dp.issue("good"))
        let bad = try Self.load(try dp.issue("bad"))
        let later = try Self.load(try dp.issue("later"))
        try dp.revoke("bad")
        try dp.publish()
        let anchor = try Self.load(dp.file("ca.crt"))
        try await OCSPTests.withHTTP { http in
            // A generous timeout: the whole suite runs beside this test on two cores, and a fetch that times out here
            // would be counted as an outage (CI once saw one at the refresh below with a 2 s timeout).
            let fetcher = CRLFetcher(http: http, timeout: .seconds(15), maximumAge: 1)
            let changes = CallCount()
            fetcher.onChange { changes.add() }
            let validator = Self.validator(anchor, fetcher: fetcher)
            // Concurrent first requests share one fetch.
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try? await validator.validate(leaf: later, intermediates: []) }
                }
            }
            #expect(fetcher.status[dp.url]?.fetches == 1, "\(String(describing: fetcher.status[dp.url]?.lastError))")
            let now = Date()
            let validated = try await validator.validate(leaf: good, intermediates: [], at: now)
            // The verdict holds until the next refresh at the latest (maximumAge 1 s), never past the CRL's nextUpdate.
            let until = try #require(validated.revocationCheckedUntil)
            #expect(until <= Date().addingTimeInterval(2), "\(until)")
            await expectRefusal(.revoked, mentioning: ["certificate 'CN=bad'", "was revoked at", "issue the client a new certificate"]) {
                try await validator.validate(leaf: bad, intermediates: [])
            }
            #expect(changes.value == 1)
            #expect(fetcher.status[dp.url]?.lastSuccess != nil)

            // Revoked after its first verdict: the next refresh brings the new CRL and says it changed.
            try dp.revoke("good")
            try dp.publish()
            try await Task.sleep(for: .milliseconds(1100))
            let refreshed = await fetcher.refreshDue()
            #expect(refreshed == true, "\(String(describing: fetcher.status[dp.url]?.lastError))")
            #expect(changes.value == 2)
            await expectRefusal(.revoked, mentioning: ["certificate 'CN=good'"]) {
                try await validator.validate(leaf: good, intermediates: [])
            }

            // The distribution point gone: the CRL held serves until its nextUpdate (bad still refused)...
            dp.stop()
            try await Task.sleep(for: .milliseconds(1100))
            #expect(await fetcher.refreshDue() == false)
            #expect(fetcher.status[dp.url]?.lastError?.contains(dp.url) == true)
            #expect(fetcher.status[dp.url]?.failures == 1)
            await expectRefusal(.revoked, mentioning: ["CN=bad"]) { try await validator.validate(leaf: bad, intermediates: []) }
            _ = try await validator.validate(leaf: later, intermediates: [])
            // ...past it, the status is unknown: closed refuses naming the distribution point, open accepts briefly.
            let stale = Date().addingTimeInterval(8 * 86_400)
            await expectRefusal(.revocationUnknown, mentioning: ["CN=later", "is stale", dp.url, "REVOCATION_FAILURE=open"]) {
                try await validator.validate(leaf: later, intermediates: [], at: stale)
            }
            // A fetcher that never reached it: no CRL at all.
            let fresh = CRLFetcher(http: http, timeout: .seconds(15))
            await expectRefusal(.revocationUnknown, mentioning: ["CN=later", "is unknown", "its CRL distribution point gave none", dp.url, "bring the CRL distribution point back"]) {
                try await Self.validator(anchor, fetcher: fresh).validate(leaf: later, intermediates: [])
            }
            let open = try await Self.validator(anchor, fetcher: fresh, failure: .open).validate(leaf: later, intermediates: [])
            #expect((open.revocationCheckedUntil ?? .distantFuture) <= Date().addingTimeInterval(31))
        }
    }

    @Test func aCRLOfAnotherKeyTooLargeOrRedirectedIsNoCRL() async throws {
        let dp = try await CRLDistribution()
        defer { dp.remove() }
        let impostor = try await CRLDistribution()  // same CA name, another key
        defer { impostor.remove() }
        let wrong = try Self.load(try dp.issue("wrong", path: "impostor.crl"))
        let big = try Self.load(try dp.issue("big", path: "big.crl"))
        let moved = try Self.load(try dp.issue("moved", path: "moved"))
        try impostor.publish()
        try dp.serve(try Data(contentsOf: URL(fileURLWithPath: "\(impostor.served)/ca.crl")), as: "impostor.crl")
        try dp.serve(Data(repeating: 0x30, count: 4096), as: "big.crl")
        try FileManager.default.createDirectory(atPath: "\(dp.served)/moved", withIntermediateDirectories: true)
        let anchor = try Self.load(dp.file("ca.crt"))
        try await OCSPTests.withHTTP { http in
            let validator = Self.validator(anchor, fetcher: CRLFetcher(http: http, maximumBytes: 1024))
            await expectRefusal(.revocationUnknown, mentioning: ["the CRLs named 'CN=CRL DP Test CA' from its CRL distribution point are not signed by 'CN=CRL DP Test CA'"]) {
                try await validator.validate(leaf: wrong, intermediates: [])
            }
            await expectRefusal(.revocationUnknown, mentioning: ["more than the 1024 allowed"]) {
                try await validator.validate(leaf: big, intermediates: [])
            }
            // http.server answers a directory without its slash with a 301: not used, even by a client that follows
            // redirects (authn's and the CLI's do not).
            await expectRefusal(.revocationUnknown, mentioning: ["http://127.0.0.1:\(dp.port)/moved", "(redirects are not followed)"]) {
                try await validator.validate(leaf: moved, intermediates: [])
            }
        }
        let strict = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        await expectRefusal(.revocationUnknown, mentioning: ["answered HTTP 301 (redirects are not followed)"]) {
            try await Self.validator(anchor, fetcher: CRLFetcher(http: strict)).validate(leaf: moved, intermediates: [])
        }
        try await strict.shutdown()
    }

    @Test func theAnchorsPolicyDecides() async throws {
        let dp = try await CRLDistribution()
        defer { dp.remove() }
        let other = try OpenSSLCA(name: "Unchecked CA")
        let plain = try other.issue("plain")  // no CRL anywhere
        let bad = try Self.load(try dp.issue("bad"))
        try dp.revoke("bad")
        try dp.publish()
        let anchor = try Self.load(dp.file("ca.crt"))
        try await OCSPTests.withHTTP { http in
            var settings = CertificateValidationSettings(trustedCertificates: [anchor, try other.anchor])
            // Globally off; the CRL DP CA is checked closed, the other one stays unchecked.
            settings.revocation = RevocationSettings(mode: .off, fetcher: CRLFetcher(http: http))
            settings.revocation.byAnchorSetting = AuthnSettingNames.revocationByAnchor
            settings.revocation.byAnchor = [
                CertificateNames.spkiSHA256(anchor): AnchorRevocationPolicy(mode: .crl, failure: .closed, anchor: "dp-ca.pem"),
            ]
            let validator = ClientCertificateValidator(settings: settings)
            await expectRefusal(.revoked, mentioning: ["CN=bad"]) { try await validator.validate(leaf: bad, intermediates: []) }
            _ = try await validator.validate(leaf: plain, intermediates: [])
            // The other way round: globally closed crl, the other CA listed as crl/open.
            settings.revocation.mode = .crl
            settings.revocation.byAnchor = [
                CertificateNames.spkiSHA256(try other.anchor): AnchorRevocationPolicy(mode: .crl, failure: .open, anchor: "other.pem"),
            ]
            _ = try await ClientCertificateValidator(settings: settings).validate(leaf: plain, intermediates: [])
            settings.revocation.byAnchor[CertificateNames.spkiSHA256(try other.anchor)]?.failure = .closed
            await expectRefusal(.revocationUnknown, mentioning: ["CN=plain", "set other.pem=crl/open in CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR"]) {
                try await ClientCertificateValidator(settings: settings).validate(leaf: plain, intermediates: [])
            }
        }
    }

    @Test func verifyChainFetchesWithCRLFetch() async throws {
        let dp = try await CRLDistribution()
        defer { dp.remove() }
        try dp.issue("good")
        try dp.issue("bad")
        try dp.revoke("bad")
        try dp.publish()
        let good = try runProcess(VerifyChainCLITests.binary, ["verify-chain", "--trusted", dp.file("ca.crt"), "--leaf", dp.file("good.crt"), "--crl-fetch"])
        #expect(good.status == 0, "\(good.output)")
        let bad = try runProcess(VerifyChainCLITests.binary, ["verify-chain", "--trusted", dp.file("ca.crt"), "--leaf", dp.file("bad.crt"), "--crl-fetch", "--json"])
        #expect(bad.status == 1, "\(bad.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bad.output.utf8)) as? [String: Any])
        #expect(object["code"] as? String == "revoked")
        // Without --crl-fetch the distribution point is not asked (no revocation checking at all).
        let unchecked = try runProcess(VerifyChainCLITests.binary, ["verify-chain", "--trusted", dp.file("ca.crt"), "--leaf", dp.file("bad.crt")])
        #expect(unchecked.status == 0, "\(unchecked.output)")
        dp.stop()
        let down = try runProcess(VerifyChainCLITests.binary, ["verify-chain", "--trusted", dp.file("ca.crt"), "--leaf", dp.file("good.crt"), "--crl-fetch"])
        #expect(down.status == 1 && down.output.contains("--revocation-failure=open"), "\(down.output)")
    }
}

/// A thread-safe count (callbacks from the fetcher).
final class CallCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
