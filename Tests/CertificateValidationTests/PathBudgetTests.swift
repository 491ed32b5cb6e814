import CertificateValidation
import Crypto
import DevPKI
import Foundation
import Synchronization
import Testing
import TestSupport
import X509

/// Path building within a budget (issue 17 item 3): chains built to be pathological are refused with the reason in
/// well under a second, by the validator and by `certauth verify-chain`; ordinary chains are not affected.
@Suite struct PathBudgetTests {
    /// A leaf signed by one key of a cluster of same-subject CAs that cross-sign each other.
    func loopLeaf(keys: Int) throws -> (leaf: Certificate, cluster: [Certificate], anchor: TestCertificate) {
        let loop = try PathologicalChains.crossSignedLoop(keys: keys)
        let leafKey = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: loop.subject, subject: try subject("looped"), signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { try ExtendedKeyUsage([.clientAuth]) },
            issuerPrivateKey: .init(loop.signer))
        return (leaf, loop.certificates, try TestCertificate.makeCA("Unrelated Root"))
    }

    /// Runs `body` and records a failure when it has not finished within `limit` (without waiting for it: an unbounded
    /// search never returns, so the test must not wait for it to fail).
    ///
    /// The limit is a safety bound, not the 1 s target: in this process dozens of suites run at once and some block the
    /// cooperative threads (child processes), so wall time here measures the machine's load as much as the search (a
    /// full run once took 33 s for a search that takes milliseconds alone). The 1 s target is asserted on the
    /// `certauth verify-chain` process (`VerifyChainCLITests`); here the deterministic bound is the reason "gave up after
    /// 100 candidates", and the unbounded search (11! paths) would not end within any of these limits.
    func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T) async -> (T, Duration)? {
        let clock = ContinuousClock()
        let start = clock.now
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let once = Once(continuation)
            Task.detached { once.resume(await body()) }
            Task.detached {
                try? await Task.sleep(for: limit)
                once.resume(nil)
            }
        }
        guard let result else {
            Issue.record("still running after \(limit)")
            return nil
        }
        return (result, clock.now - start)
    }

    @Test func sameSubjectCrossSignedCAsAreRefusedWithABoundedSearch() async throws {
        let (leaf, cluster, anchor) = try loopLeaf(keys: 11)
        let checker = validator(trusting: [anchor.certificate])
        let outcome = await within(.seconds(60)) { () -> Result<ValidatedCertificate, CertificateValidationError> in
            do throws(CertificateValidationError) {
                return .success(try await checker.validate(leaf: leaf, intermediates: cluster))
            } catch {
                return .failure(error)
            }
        }
        guard case .failure(let error)? = outcome?.0 else {
            Issue.record("expected a refusal, got \(String(describing: outcome?.0))")
            return
        }
        #expect(error.code == .untrusted)
        #expect(error.message.hasPrefix("path building gave up after 100 candidates"), "\(error.message)")
    }

    @Test func theBudgetIsASetting() async throws {
        // Three keys: 6 certificates, the whole search stays under 100 candidates, so it ends on its own and says why
        // no chain was found; with a budget of 5 candidates the same search gives up.
        let (leaf, cluster, anchor) = try loopLeaf(keys: 3)
        var settings = CertificateValidationSettings(trustedCertificates: [anchor.certificate])
        await expectRefusal(.untrusted, mentioning: ["'CN=Loop CA, O=CertAuth Test'", "1 trusted certificates"]) {
            try await ClientCertificateValidator(settings: settings).validate(leaf: leaf, intermediates: cluster)
        }
        settings.budget.maximumCandidates = 5
        await expectRefusal(.untrusted, mentioning: ["path building gave up after 5 candidates"]) {
            try await ClientCertificateValidator(settings: settings).validate(leaf: leaf, intermediates: cluster)
        }
    }

    @Test func thousandsOfNameConstraintsAreRefusedWithABoundedCount() async throws {
        let root = try TestCertificate.makeCA("Constraint Root")
        let heavy = try PathologicalChains.nameConstraintHeavy(
            subtrees: 4000, names: 1000, issuer: root.certificate, issuerKey: .init(root.key))
        let checker = validator(trusting: [root.certificate])
        let outcome = await within(.seconds(60)) { () -> Result<ValidatedCertificate, CertificateValidationError> in
            do throws(CertificateValidationError) {
                return .success(try await checker.validate(leaf: heavy.leaf, intermediates: [heavy.ca]))
            } catch {
                return .failure(error)
            }
        }
        guard case .failure(let error)? = outcome?.0 else {
            Issue.record("expected a refusal, got \(String(describing: outcome?.0))")
            return
        }
        #expect(error.message.hasPrefix("path building gave up: checking the name constraints of"), "\(error.message)")
        #expect(error.message.contains("over the budget of 250000"))
    }

    @Test func ordinaryNameConstraintsStillPass() async throws {
        let root = try TestCertificate.makeCA("Constraint Root")
        let light = try PathologicalChains.nameConstraintHeavy(
            subtrees: 20, names: 5, issuer: root.certificate, issuerKey: .init(root.key))
        let validated = try await validator(trusting: [root.certificate]).validate(leaf: light.leaf, intermediates: [light.ca])
        #expect(validated.chain.count == 3)
    }

    @Test func chainsLongerThanTheMaximumDepthAreRefused() async throws {
        let root = try TestCertificate.makeCA("Depth Root")
        var issuer = root
        var intermediates: [Certificate] = []
        for level in 1...4 {
            issuer = try TestCertificate.makeCA("Level \(level)", issuer: issuer)
            intermediates.append(issuer.certificate)
        }
        let leaf = try TestCertificate.make("deep", issuer: issuer, extensions: try Certificate.Extensions {
            try ExtendedKeyUsage([.clientAuth])
        })
        var settings = CertificateValidationSettings(trustedCertificates: [root.certificate])
        let validated = try await ClientCertificateValidator(settings: settings).validate(leaf: leaf.certificate, intermediates: intermediates)
        #expect(validated.chain.count == 6)
        settings.budget.maximumIntermediates = 3
        await expectRefusal(.untrusted, mentioning: ["more than 3 intermediate CA certificates"]) {
            try await ClientCertificateValidator(settings: settings).validate(leaf: leaf.certificate, intermediates: intermediates)
        }
    }
}

/// Resumes a continuation once; later calls do nothing.
final class Once<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T?, Never>?>

    init(_ continuation: CheckedContinuation<T?, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: T?) {
        continuation.withLock { $0.take() }?.resume(returning: value)
    }
}
