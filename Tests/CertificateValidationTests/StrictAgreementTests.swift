import CertificateValidation
import Foundation
import Testing

/// `certauth verify-chain --profile strict` against `openssl verify -x509_strict` on every chain of the project's own
/// agreement fixtures (issue 17 acceptance): the verdicts agree, except where we are stricter on purpose; each such case
/// is listed here with the reason (and in docs/authn.md), and the test checks that OpenSSL still accepts it.
@Suite struct StrictAgreementTests {
    /// Chains `openssl verify -x509_strict` accepts (but for the anchor's keyUsage, below) and the strict profile
    /// refuses, by case name, with why. (RSA keys under 2048 bits and CA certificates as client certificates, where we
    /// are stricter in both profiles, are covered by CertificateAuthorityLeafTests and StrictProfileTests.)
    static let stricterThanOpenSSL: [String: String] = [
        "seed Operate certificate (RSA-4096, version 1, no extensions)": "version 1 certificate (strict: v3 only, as pyca/cryptography)",
        "seed Identity certificate": "version 1 certificate (strict: v3 only, as pyca/cryptography)",
        "only the intermediate trusted (partial chain)": "version 1 client certificate (strict: v3 only, as pyca/cryptography)",
    ]

    /// Where OpenSSL 3's `-x509_strict` is stricter than RFC 5280's path validation, pyca/cryptography and Go (and so
    /// than us): it requires keyUsage in the trust anchor itself. RFC 5280 §6.1 takes only the anchor's name and key
    /// (its extensions are not checked); the seed's `openssl req -x509` root has no keyUsage. A chain OpenSSL refuses for
    /// this reason alone is not a disagreement.
    static func refusedForAnchorKeyUsageOnly(_ output: String, anchorDepth: Int) -> Bool {
        let errors = output.split(separator: "\n").filter { $0.hasPrefix("error ") && !$0.contains("verification failed") }
        return !errors.isEmpty && errors.allSatisfy { $0 == "error 92 at \(anchorDepth) depth lookup: CA cert does not include key usage extension" }
    }

    @Test(arguments: AgreementCase.all)
    func strictProfileAgreesWithOpenSSLStrict(_ testCase: AgreementCase) throws {
        let pki = try SeedPKI.get()
        let purpose = testCase.purpose == .server ? "sslserver" : testCase.purpose == .any ? "any" : "sslclient"
        var openssl = ["verify", "-x509_strict", "-purpose", purpose] + testCase.opensslFlags + ["-CAfile", pki.path("\(testCase.trusted).crt")]
        for name in testCase.untrusted { openssl += ["-untrusted", pki.path("\(name).crt")] }
        openssl.append(pki.path("\(testCase.leaf).crt"))
        let reference = try runProcess("/usr/bin/openssl", openssl)

        var ours = ["verify-chain", "--profile", "strict", "--purpose", testCase.purpose.rawValue, "--json",
                    "--trusted", pki.path("\(testCase.trusted).crt"), "--leaf", pki.path("\(testCase.leaf).crt")]
        for name in testCase.untrusted { ours += ["--intermediates", pki.path("\(name).crt")] }
        let result = try runProcess(VerifyChainCLITests.binary, ours)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        let valid = object["valid"] as? Bool == true
        #expect(result.status == (valid ? 0 : 1))

        let anchorDepth = testCase.trusted == testCase.leaf ? 0 : 1 + testCase.untrusted.count
        let anchorKeyUsageOnly = reference.status != 0 && Self.refusedForAnchorKeyUsageOnly(reference.output, anchorDepth: anchorDepth)
        if let why = Self.stricterThanOpenSSL[testCase.name] {
            #expect(reference.status == 0 || anchorKeyUsageOnly, "listed as stricter than OpenSSL (\(why)), but openssl -x509_strict refuses too: \(reference.output)")
            #expect(!valid, "listed as stricter than OpenSSL (\(why)), but we accept")
        } else if anchorKeyUsageOnly {
            #expect(valid, "\(testCase.name): openssl -x509_strict refuses only for the anchor's missing keyUsage, and we refuse too: \(object["reason"] ?? "")")
        } else {
            #expect(valid == (reference.status == 0),
                    "\(testCase.name): certauth \(valid ? "accepts" : "refuses (\(object["reason"] ?? ""))"), openssl -x509_strict says: \(reference.output.replacingOccurrences(of: "\n", with: " | "))")
        }
    }
}
