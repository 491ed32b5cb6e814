import CertificateValidation
import Crypto
import DevPKI
import Foundation
import SwiftASN1
import Testing
import X509

/// Chains made in process with DevPKI (RSA-2048) and hand-built certificates (P-256).
@Suite struct ClientCertificateValidatorTests {
    let now = Date()

    // MARK: Valid chains

    @Test func clientCertificateDirectlyUnderTrustedCA() async throws {
        let ca = try DevPKI.makeCA()
        let leaf = try DevPKI.issue(subject: try subject("orders"), usage: .client, issuer: ca)
        let validated = try await validator(trusting: [ca.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        #expect(validated.leaf == leaf.certificate)
        #expect(validated.chain == [leaf.certificate, ca.certificate])
        #expect(validated.subject == "CN=orders, O=CertAuth Test")
        #expect(validated.thumbprintSHA256 == base64URL(Array(SHA256.hash(data: try leaf.der))))
        #expect(validated.notValidAfter == min(leaf.certificate.notValidAfter, ca.certificate.notValidAfter))
    }

    @Test func chainThroughIntermediateEndsAtTheAnchor() async throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let intermediate = try DevPKI.issue(
            subject: try subject("Issuing CA"), issuer: root, isCA: true, notValidAfter: now.addingTimeInterval(30 * 86_400))
        let leaf = try DevPKI.issue(subject: try subject("billing"), usage: .client, issuer: intermediate)
        let unrelated = try DevPKI.makeCA(commonName: "Unrelated")
        let validated = try await validator(trusting: [unrelated.certificate, root.certificate])
            .validate(leaf: leaf.certificate, intermediates: [unrelated.certificate, intermediate.certificate])
        #expect(validated.chain == [leaf.certificate, intermediate.certificate, root.certificate])
        // The intermediate expires first, so the validation holds until then.
        #expect(validated.notValidAfter == intermediate.certificate.notValidAfter)
    }

    @Test func purposeAnyAndServer() async throws {
        let ca = try DevPKI.makeCA()
        let server = try DevPKI.issue(subject: try subject("web"), usage: .server, issuer: ca)
        let both = try DevPKI.issue(subject: try subject("service"), usage: .serverAndClient, issuer: ca)
        _ = try await validator(trusting: [ca.certificate], purpose: .server).validate(leaf: server.certificate, intermediates: [])
        _ = try await validator(trusting: [ca.certificate], purpose: .any).validate(leaf: server.certificate, intermediates: [])
        _ = try await validator(trusting: [ca.certificate]).validate(leaf: both.certificate, intermediates: [])
        await expectRefusal(.wrongPurpose, mentioning: ["'CN=web, O=CertAuth Test'", "extended key usage serverAuth only; issue the certificate with extendedKeyUsage=clientAuth"]) {
            try await validator(trusting: [ca.certificate]).validate(leaf: server.certificate, intermediates: [])
        }
    }

    @Test func validationTimeIsTheGivenOne() async throws {
        let ca = try DevPKI.makeCA()
        let leaf = try DevPKI.issue(
            subject: try subject("later"), usage: .client, issuer: ca,
            notValidBefore: now.addingTimeInterval(86_400), notValidAfter: now.addingTimeInterval(2 * 86_400))
        let checker = validator(trusting: [ca.certificate])
        _ = try await checker.validate(leaf: leaf.certificate, intermediates: [], at: now.addingTimeInterval(1.5 * 86_400))
        await expectRefusal(.notYetValid, mentioning: ["certificate 'CN=later, O=CertAuth Test' is not valid before \(leaf.certificate.notValidBefore.formatted(.iso8601))", "check the clocks"]) {
            try await checker.validate(leaf: leaf.certificate, intermediates: [], at: now)
        }
        await expectRefusal(.expired, mentioning: ["expired at \(leaf.certificate.notValidAfter.formatted(.iso8601))"]) {
            try await checker.validate(leaf: leaf.certificate, intermediates: [], at: now.addingTimeInterval(3 * 86_400))
        }
    }

    // MARK: Refusals with a specific reason

    @Test func expiredLeafNamesSubjectAndDate() async throws {
        let ca = try DevPKI.makeCA()
        let leaf = try DevPKI.issue(
            subject: try subject("stale"), usage: .client, issuer: ca,
            notValidBefore: now.addingTimeInterval(-10 * 86_400), notValidAfter: now.addingTimeInterval(-86_400))
        await expectRefusal(.expired, mentioning: [
            "certificate 'CN=stale, O=CertAuth Test' expired at \(leaf.certificate.notValidAfter.formatted(.iso8601))",
            "renew the client certificate",
        ]) {
            try await validator(trusting: [ca.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        }
    }

    @Test func expiredIntermediateIsNamed() async throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let intermediate = try DevPKI.issue(
            subject: try subject("Old Issuing CA"), issuer: root, isCA: true,
            notValidBefore: now.addingTimeInterval(-10 * 86_400), notValidAfter: now.addingTimeInterval(-60))
        let leaf = try DevPKI.issue(subject: try subject("fresh"), usage: .client, issuer: intermediate)
        await expectRefusal(.expired, mentioning: ["intermediate 'CN=Old Issuing CA, O=CertAuth Test' expired at", "renew the intermediate CA certificate"]) {
            try await validator(trusting: [root.certificate]).validate(leaf: leaf.certificate, intermediates: [intermediate.certificate])
        }
    }

    @Test func missingIntermediateSaysWhatToAdd() async throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let other = try DevPKI.makeCA(commonName: "Second Root")
        let intermediate = try DevPKI.issue(subject: try subject("Issuing CA"), issuer: root, isCA: true)
        let leaf = try DevPKI.issue(subject: try subject("billing"), usage: .client, issuer: intermediate)
        await expectRefusal(.untrusted, mentioning: [
            "certificate 'CN=billing, O=CertAuth Test' was issued by 'CN=Issuing CA, O=CertAuth Test'",
            "not among the 2 trusted certificates (subjects: 'CN=Root, O=CertAuth dev'; 'CN=Second Root, O=CertAuth dev')",
            "add the CA to CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES or send the intermediate",
        ]) {
            try await validator(trusting: [root.certificate, other.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        }
    }

    @Test func untrustedRootSentByTheClient() async throws {
        let trusted = try DevPKI.makeCA(commonName: "Trusted Root")
        let foreign = try DevPKI.makeCA(commonName: "Foreign Root")
        let leaf = try DevPKI.issue(subject: try subject("visitor"), usage: .client, issuer: foreign)
        await expectRefusal(.untrusted, mentioning: ["the chain ends at 'CN=Foreign Root, O=CertAuth dev', which is self-signed and not among the 1 trusted certificates (subjects: 'CN=Trusted Root, O=CertAuth dev')"]) {
            try await validator(trusting: [trusted.certificate]).validate(leaf: leaf.certificate, intermediates: [foreign.certificate])
        }
    }

    @Test func intermediateThatIsNotACA() async throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let notCA = try DevPKI.issue(subject: try subject("plain service"), usage: .serverAndClient, issuer: root)
        let leaf = try DevPKI.issue(subject: try subject("nested"), usage: .client, issuer: notCA)
        await expectRefusal(.invalidCA, mentioning: ["intermediate 'CN=plain service, O=CertAuth Test'", "is not a CA (basicConstraints CA:FALSE)"]) {
            try await validator(trusting: [root.certificate]).validate(leaf: leaf.certificate, intermediates: [notCA.certificate])
        }
    }

    @Test func pathLengthConstraint() async throws {
        let root = try TestCertificate.make("Root", extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
        })
        let middle = try TestCertificate.makeCA("Middle", issuer: root)
        let lower = try TestCertificate.makeCA("Lower", issuer: middle)
        let leaf = try TestCertificate.make("deep", issuer: lower)
        await expectRefusal(.invalidCA, mentioning: ["'CN=Root, O=CertAuth Test' allows 0 intermediate CA(s) below it", "pathlen"]) {
            try await validator(trusting: [root.certificate]).validate(leaf: leaf.certificate, intermediates: [lower.certificate, middle.certificate])
        }
    }

    @Test func caRestrictedToServerAuthCannotIssueClientCertificates() async throws {
        let root = try TestCertificate.make("Server Root", extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            try ExtendedKeyUsage([.serverAuth])
        })
        let leaf = try TestCertificate.make("client", issuer: root)
        await expectRefusal(.wrongPurpose, mentioning: ["trusted CA 'CN=Server Root, O=CertAuth Test' restricts extended key usage to serverAuth"]) {
            try await validator(trusting: [root.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        }
        _ = try await validator(trusting: [root.certificate], purpose: .server).validate(leaf: leaf.certificate, intermediates: [])
    }

    @Test func keyUsageWithoutSignature() async throws {
        let root = try TestCertificate.makeCA("Root")
        let leaf = try TestCertificate.make("encipher-only", issuer: root, extensions: try Certificate.Extensions {
            Critical(KeyUsage(keyEncipherment: true))
        })
        await expectRefusal(.wrongPurpose, mentioning: ["keyUsage keyEncipherment, which allows neither digitalSignature nor keyAgreement"]) {
            try await validator(trusting: [root.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        }
        _ = try await validator(trusting: [root.certificate], purpose: .server).validate(leaf: leaf.certificate, intermediates: [])
    }

    @Test func unsupportedCriticalExtension() async throws {
        let root = try TestCertificate.makeCA("Root")
        let leaf = try TestCertificate.make("odd", issuer: root, extensions: try Certificate.Extensions {
            Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 55555, 1], critical: true, value: [0x05, 0x00])
        })
        await expectRefusal(.other, mentioning: ["certificate 'CN=odd, O=CertAuth Test' has the critical extension 1.3.6.1.4.1.55555.1"]) {
            try await validator(trusting: [root.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        }
    }

    @Test func sameNameDifferentKey() async throws {
        let trusted = try DevPKI.makeCA(commonName: "Company CA")
        let lookalike = try DevPKI.makeCA(commonName: "Company CA")
        let leaf = try DevPKI.issue(subject: try subject("spoof"), usage: .client, issuer: lookalike)
        await expectRefusal(.untrusted, mentioning: ["names 'CN=Company CA, O=CertAuth dev' as its issuer", "its key did not sign"]) {
            try await validator(trusting: [trusted.certificate]).validate(leaf: leaf.certificate, intermediates: [])
        }
    }

    @Test func noTrustedCertificatesConfigured() async throws {
        let ca = try DevPKI.makeCA()
        let leaf = try DevPKI.issue(subject: try subject("orphan"), usage: .client, issuer: ca)
        await expectRefusal(.untrusted, mentioning: ["no trusted certificates are configured", "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES"]) {
            try await validator(trusting: []).validate(leaf: leaf.certificate, intermediates: [ca.certificate])
        }
    }

    // MARK: requireValidChain=false

    @Test func withoutChainValidationOnlyListedLeavesPass() async throws {
        let ca = try DevPKI.makeCA()
        let listed = try DevPKI.issue(subject: try subject("pinned"), usage: .client, issuer: ca)
        let other = try DevPKI.issue(subject: try subject("not pinned"), usage: .client, issuer: ca)
        let selfSigned = try DevPKI.issue(subject: try subject("self"), usage: .client, issuer: nil)
        let pinned = validator(trusting: [listed.certificate, selfSigned.certificate, ca.certificate], requireValidChain: false)

        let validated = try await pinned.validate(leaf: listed.certificate, intermediates: [])
        #expect(validated.chain == [listed.certificate])
        #expect(validated.notValidAfter == listed.certificate.notValidAfter)
        _ = try await pinned.validate(leaf: selfSigned.certificate, intermediates: [])

        // Signed by a listed CA, but not itself listed.
        await expectRefusal(.untrusted, mentioning: [
            "certificate 'CN=not pinned, O=CertAuth Test' is not one of the 3 trusted certificates",
            "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REQUIREVALIDCHAIN=false",
        ]) {
            try await pinned.validate(leaf: other.certificate, intermediates: [ca.certificate])
        }
        // Dates still count.
        await expectRefusal(.expired, mentioning: ["'CN=pinned, O=CertAuth Test' expired at"]) {
            try await pinned.validate(leaf: listed.certificate, intermediates: [], at: listed.certificate.notValidAfter.addingTimeInterval(1))
        }
        // With chain validation the CA-signed certificate passes.
        _ = try await validator(trusting: [ca.certificate]).validate(leaf: other.certificate, intermediates: [])
    }

    @Test func listedSelfSignedLeafPassesWithChainValidationToo() async throws {
        // openssl verify -CAfile self.crt self.crt accepts a self-signed, non-CA certificate; so do we.
        let selfSigned = try DevPKI.issue(subject: try subject("self"), usage: .client, issuer: nil)
        let validated = try await validator(trusting: [selfSigned.certificate]).validate(leaf: selfSigned.certificate, intermediates: [])
        #expect(validated.chain == [selfSigned.certificate])
        let serverOnly = try DevPKI.issue(subject: try subject("self server"), usage: .server, issuer: nil)
        await expectRefusal(.wrongPurpose, mentioning: ["extended key usage serverAuth only"]) {
            try await validator(trusting: [serverOnly.certificate], requireValidChain: false).validate(leaf: serverOnly.certificate, intermediates: [])
        }
    }

    // MARK: PEM input

    @Test func chainFromPEMText() async throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let intermediate = try DevPKI.issue(subject: try subject("Issuing CA"), issuer: root, isCA: true)
        let leaf = try DevPKI.issue(subject: try subject("pem client"), usage: .client, issuer: intermediate)
        let checker = validator(trusting: [root.certificate])
        let validated = try await checker.validate(chainPEM: try leaf.pem + intermediate.pem)
        #expect(validated.chain.count == 3)
        await expectRefusal(.emptyChain, mentioning: ["no certificate found"]) {
            try await checker.validate(chainPEM: "")
        }
        await expectRefusal(.malformed, mentioning: ["certificate 1 is not valid base64"]) {
            try await checker.validate(chainPEM: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
        }
    }

    @Test func concurrentValidationsAgree() async throws {
        let ca = try DevPKI.makeCA()
        let good = try DevPKI.issue(subject: try subject("good"), usage: .client, issuer: ca)
        let bad = try DevPKI.issue(subject: try subject("bad"), usage: .server, issuer: ca)
        let checker = validator(trusting: [ca.certificate])
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                group.addTask {
                    do {
                        _ = try await checker.validate(leaf: index % 2 == 0 ? good.certificate : bad.certificate, intermediates: [])
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var results: [Bool] = []
            for await outcome in group { results.append(outcome) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 20)
        #expect(outcomes.count == 40)
    }
}

func base64URL(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}
