import AuthProtocol
import DevPKI
import Foundation
import Keystore
import Logging
import ServiceSupport
import SwiftASN1
import Testing
import TestSupport
@testable import TokenIssuer
import X509

/// Which certificate ``CredentialStore`` signs with: the newest one the IdP accepted, a newer untried one first, the
/// other after a refusal, never one whose key was removed; a replaced file keeps the accepted one as the fallback.
@Suite struct CredentialStoreTests {
    /// A client certificate of the dev PKI with `notBefore` `age` seconds ago, written as a PEM pair named `name`.
    static func pair(_ pki: TestPKI, _ name: String, age: TimeInterval) throws -> KeystoreSource {
        let issued = try DevPKI.issue(
            subject: try DistinguishedName { OrganizationName("CertAuth dev"); CommonName("identity") },
            usage: .client, issuer: try pki.certificateAuthority(), notValidBefore: Date().addingTimeInterval(-age))
        try SecureFile.write(Array(try issued.pem.utf8), to: pki.path("\(name).crt"), mode: 0o644)
        try SecureFile.write(Array(issued.keyPEM.utf8), to: pki.path("\(name).key"))
        return .pem(certificate: pki.path("\(name).crt"), privateKey: pki.path("\(name).key"), settings: .clientAssertion)
    }

    static func thumbprints(_ credentials: [Credential]) -> [String] { credentials.map(\.x5tS256) }

    @Test func newestAcceptedSignsANewerUntriedOneIsTriedFirstAndARefusedOneWaits() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let current = try Self.pair(pki, "current", age: 7200)
        var next = try Self.pair(pki, "next", age: 60)
        next.settings = .clientAssertionNext
        let health = HealthRegistry()
        let store = try CredentialStore(source: current, next: next, algorithm: "RS256", logger: CapturedLogs().logger("t"), health: health, retryRefusedAfter: 300)
        let old = try current.load().credential, new = try next.load().credential

        #expect(Self.thumbprints(await store.signingOrder()) == [new.x5tS256, old.x5tS256], "newer and untried: tried first")
        await store.refused(new, codes: [700027])
        #expect(Self.thumbprints(await store.signingOrder()) == [old.x5tS256, new.x5tS256], "refused: the other one first")
        await store.accepted(old)
        #expect(await store.current().x5tS256 == old.x5tS256)
        #expect(Self.thumbprints(await store.signingOrder(now: Date().addingTimeInterval(301))) == [new.x5tS256, old.x5tS256],
                "a refused certificate is tried again after retryRefusedAfter")
        await store.accepted(new)
        #expect(Self.thumbprints(await store.signingOrder()) == [new.x5tS256, old.x5tS256], "the newest accepted signs, the older is the fallback")
        await store.removed(old)
        #expect(Self.thumbprints(await store.signingOrder()) == [new.x5tS256], "a key removed at the IdP is never used")

        let described = await store.describe()
        #expect(described.map(\.slot) == ["next", "current"])
        #expect(described.map(\.idpStatus) == ["accepted", "removed"])
        #expect(described.first?.active == true && described.last?.active == false)
        let details = health.snapshot().components["keystore"]?.details ?? [:]
        #expect(details["x5t#S256"] == new.x5tS256 && details["next.x5t#S256"] == new.x5tS256 && details["current.x5t#S256"] == old.x5tS256)
        #expect(details["current.not_after"] != nil && details["next.not_after"] != nil)
    }

    @Test func aReplacedFileKeepsTheAcceptedCertificateAsFallbackUntilTheNewOneIsAccepted() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let source = try Self.pair(pki, "client", age: 7200)
        let store = try CredentialStore(source: source, algorithm: "RS256", logger: CapturedLogs().logger("t"))
        let old = try source.load().credential
        await store.accepted(old)
        _ = try Self.pair(pki, "client", age: 60)   // the files replaced in place
        let new = try source.load().credential
        #expect(await store.reloadIfChanged())
        #expect(Self.thumbprints(await store.signingOrder()) == [new.x5tS256, old.x5tS256], "the new one is tried, the old one kept in memory")
        #expect(await store.describe().map(\.slot) == ["current", "retained"])
        await store.refused(new, codes: [700027])
        #expect(await store.current().x5tS256 == old.x5tS256, "Entra does not know the new one yet: the old one signs")
        await store.accepted(new)
        #expect(Self.thumbprints(await store.signingOrder()) == [new.x5tS256], "once the new one is accepted the retained one goes")
    }

    @Test func withZeroTouchRotationANewCertificateWaitsForRegistration() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let source = try Self.pair(pki, "client", age: 7200)
        let store = try CredentialStore(source: source, algorithm: "RS256", logger: CapturedLogs().logger("t"), probeNewCertificates: false)
        let old = try source.load().credential
        await store.accepted(old)
        _ = try Self.pair(pki, "client", age: 60)
        let new = try source.load().credential
        #expect(await store.reloadIfChanged())
        #expect(await store.current().x5tS256 == old.x5tS256, "not tried before the rotation registered it")
        await store.registered(new)
        #expect(await store.current().x5tS256 == new.x5tS256, "registered at Entra: tried first")
    }
}
