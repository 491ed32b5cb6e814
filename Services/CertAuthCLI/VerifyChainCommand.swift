import ArgumentParser
import AsyncHTTPClient
import CertificateValidation
import Foundation
import NIOCore
import WireFormat
import X509

/// `certauth verify-chain`: the check authn makes on a client certificate, from files (README).
struct VerifyChain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-chain",
        abstract: "Check a client certificate chain as authn does (mTLS): chain to the trusted CAs, dates, key usage.",
        discussion: """
            LEAF.pem may hold the whole chain (client certificate first); --intermediates adds more untrusted \
            certificates. Every --trusted certificate is a trust anchor. Exit status: 0 valid, 1 invalid, \
            2 usage or file error. Path building has a budget (100 candidate issuers, name-constraint comparisons): \
            a chain built to exhaust it is refused with "path building gave up after N candidates".
            """)

    @Option(name: .long, help: "PEM file of trusted CA certificates (repeatable; a comma list works too, as in CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES). Required.")
    var trusted: [String] = []

    @Option(name: .long, help: "PEM file of intermediate certificates as the client would send them (repeatable).")
    var intermediates: [String] = []

    @Option(name: .long, help: "PEM file of the client certificate (optionally followed by its intermediates). Required.")
    var leaf: String?

    @Option(name: .long, help: "Validation time, RFC 3339 (default: now), e.g. 2030-01-01T00:00:00Z.")
    var at: String?

    @Option(name: .long, help: "What the leaf must be good for: client (default), server or any.")
    var purpose: String = CertificatePurpose.client.rawValue

    @Option(name: .customLong("require-valid-chain"), help: "true (default): build the chain to a trusted CA; false: accept only a leaf that is itself listed with --trusted.")
    var requireValidChain: String = "true"

    @Option(name: .long, help: "Validation profile: compatible (default; what openssl verify -purpose sslclient accepts) or strict (RFC 5280 and the web PKI profile, as pyca/cryptography and Go).")
    var profile: String = ValidationProfile.compatible.rawValue

    @Option(name: .long, help: "The leaf must be issued for this DNS name (wildcards as RFC 6125/9525) or IP address, by subjectAltName.")
    var host: String?

    @Option(name: .long, help: "CRL file (PEM or DER, e.g. from openssl ca -gencrl) to check every certificate below the trusted CA against (repeatable). With --crl, a certificate whose issuer has no current CRL among them is refused (see --revocation-failure).")
    var crl: [String] = []

    @Option(name: .customLong("revocation-failure"), help: "With --crl, --crl-fetch or --ocsp: closed (default) refuses a certificate whose revocation status is unknown (no CRL of its issuer, a stale one, no OCSP responder or none reachable); open accepts it.")
    var revocationFailure: String = RevocationFailurePolicy.closed.rawValue

    @Flag(name: .long, help: "Ask the OCSP responder each certificate below the trusted CA names (authorityInfoAccess) for its status (HTTP POST, 5 s and 64 KiB per answer). With --crl too, both must establish the status. See --revocation-failure.")
    var ocsp = false

    @Flag(name: .customLong("crl-fetch"), help: "Fetch the CRL each certificate below the trusted CA names in its CRL distribution points (http only, GET, no redirects, 5 s and 1 MiB per CRL). Works with --crl (the files count too) and --ocsp (both must establish the status). See --revocation-failure.")
    var crlFetch = false

    @Option(name: .customLong("max-depth"), help: "Intermediate CA certificates allowed between the leaf and a trusted CA (default \(PathBuildingBudget.standard.maximumIntermediates), like openssl verify -verify_depth).")
    var maxDepth: Int?

    @Flag(name: .long, help: "Print one JSON object: valid, reason, code, chain [{subject, issuer, not_after, x5t#S256, spki_sha256}], principal.")
    var json = false

    func run() async throws {
        let http = ocsp || crlFetch ? HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .seconds(5)))) : nil
        let outcome: Result<Void, ExitCode>
        do {
            let request: Request
            do {
                request = try prepare(
                    ocsp: ocsp ? http.map { OCSPClient(http: $0) } : nil,
                    fetcher: crlFetch ? http.map { CRLFetcher(http: $0, setting: "--crl-fetch") } : nil)
            } catch {
                FileHandle.standardError.write(Data("certauth verify-chain: \(error.message)\n".utf8))
                throw ExitCode(2)
            }
            do {
                let validated = try await request.validator.validate(leaf: request.leaf, intermediates: request.intermediates, at: request.time)
                let principal = (try? SubjectPrincipalMapper(pattern: nil, setting: "CN"))?.principal(for: validated.leaf.subject)
                report(valid: true, reason: nil, code: nil, chain: validated.chain, principal: principal)
            } catch {
                report(valid: false, reason: error.message, code: error.code.rawValue, chain: [request.leaf] + request.intermediates, principal: nil)
                throw ExitCode(1)
            }
            outcome = .success(())
        } catch let exit as ExitCode {
            outcome = .failure(exit)
        }
        try? await http?.shutdown()
        try outcome.get()
    }

    // MARK: Input

    struct Request {
        var validator: ClientCertificateValidator
        var leaf: Certificate
        var intermediates: [Certificate]
        var time: Date
    }

    func prepare(ocsp client: OCSPClient? = nil, fetcher: CRLFetcher? = nil) throws(CertificateValidationError) -> Request {
        guard let leafPath = leaf else {
            throw usage("--leaf LEAF.pem is required")
        }
        let trustedFiles = trusted.flatMap { $0.split(separator: ",").map(String.init) }
        guard !trustedFiles.isEmpty else {
            throw usage("--trusted CA.pem is required (repeat it for several files)")
        }
        guard let purpose = CertificatePurpose(rawValue: purpose.lowercased()) else {
            throw usage("--purpose must be client, server or any (got '\(purpose)')")
        }
        let requireValidChain: Bool
        switch self.requireValidChain.lowercased() {
        case "true": requireValidChain = true
        case "false": requireValidChain = false
        default: throw usage("--require-valid-chain must be true or false (got '\(self.requireValidChain)')")
        }
        guard let time = validationTime(at) else { throw usage(badValidationTime(at)) }
        guard let profile = ValidationProfile(rawValue: profile.lowercased()) else {
            throw usage("--profile must be compatible or strict (got '\(profile)')")
        }
        if let host, host.isEmpty || host.contains(where: \.isWhitespace) {
            throw usage("--host must be a DNS name or an IP address (got '\(host)')")
        }
        let anchors = try CertificatePEM.load(files: trustedFiles, setting: "--trusted")
        let presented = try certificates(in: leafPath, option: "--leaf")
        var extra: [Certificate] = []
        for path in intermediates {
            extra += try certificates(in: path, option: "--intermediates")
        }
        var settings = CertificateValidationSettings(
            trustedCertificates: anchors, requireValidChain: requireValidChain, purpose: purpose)
        settings.trustedCertificatesSetting = "--trusted"
        settings.requireValidChainSetting = "--require-valid-chain"
        settings.profile = profile
        settings.host = host
        guard let failure = RevocationFailurePolicy(rawValue: revocationFailure.lowercased()) else {
            throw usage("--revocation-failure must be closed or open (got '\(revocationFailure)')")
        }
        if !crl.isEmpty || ocsp || crlFetch {
            let store = crl.isEmpty ? nil : try CRLStore(paths: crl, setting: "--crl")
            let usesCRL = !crl.isEmpty || crlFetch
            let mode: RevocationMode = !usesCRL ? .ocsp : ocsp ? .crlAndOCSP : .crl
            settings.revocation = RevocationSettings(
                mode: mode, failure: failure, crls: store, ocsp: client, fetcher: fetcher,
                modeSetting: ocsp ? "--ocsp" : crl.isEmpty ? "--crl-fetch" : "--crl", failureSetting: "--revocation-failure")
        }
        if let maxDepth {
            guard maxDepth >= 0 else { throw usage("--max-depth must be 0 or more (got \(maxDepth))") }
            settings.budget.maximumIntermediates = maxDepth
            settings.maximumDepthSetting = "--max-depth \(maxDepth)"
        } else {
            settings.maximumDepthSetting = "--max-depth, default \(settings.budget.maximumIntermediates)"
        }
        return Request(
            validator: ClientCertificateValidator(settings: settings), leaf: presented[0],
            intermediates: Array(presented.dropFirst()) + extra, time: time)
    }

    private func certificates(in path: String, option: String) throws(CertificateValidationError) -> [Certificate] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw usage("\(option) \(path): file not found or unreadable")
        }
        do {
            return try CertificatePEM.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw usage("\(option) \(path): \(error.message)")
        }
    }

    private func usage(_ message: String) -> CertificateValidationError {
        CertificateValidationError(code: .malformed, message: message)
    }

    // MARK: Output

    private func report(valid: Bool, reason: String?, code: String?, chain: [Certificate], principal: String?) {
        if json {
            let object: [String: Any] = [
                "valid": valid,
                "reason": reason ?? NSNull(),
                "code": code ?? NSNull(),
                "principal": principal ?? NSNull(),
                "chain": chain.map { certificate -> [String: Any] in
                    [
                        "subject": DistinguishedNameFormat.string(certificate.subject),
                        "issuer": DistinguishedNameFormat.string(certificate.issuer),
                        "not_after": RFC3339.string(certificate.notValidAfter),
                        "x5t#S256": (try? CertificateThumbprint.sha256(certificate)) ?? NSNull(),
                        // What a mapping rule's issuerSpkiSha256 and …_MTLS_DEFAULT_ROLES_BY_ANCHOR pin a CA by.
                        "spki_sha256": CertificateNames.spkiSHA256(certificate),
                    ]
                },
            ]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        if valid {
            print("VALID")
            for (index, certificate) in chain.enumerated() {
                let role = index == 0 ? "leaf" : index == chain.count - 1 ? "trusted" : "intermediate"
                print("  \(index) \(role.padding(toLength: 12, withPad: " ", startingAt: 0)) \(DistinguishedNameFormat.string(certificate.subject))  (not after \(RFC3339.string(certificate.notValidAfter)))")
            }
            if let principal {
                print("principal: \(principal)")
            }
            if let leaf = chain.first, let thumbprint = try? CertificateThumbprint.sha256(leaf) {
                print("x5t#S256:  \(thumbprint)")
            }
            if chain.count > 1 {
                print("issuer spki_sha256: \(CertificateNames.spkiSHA256(chain[1]))")
            }
        } else {
            print("INVALID: \(reason ?? "unknown reason")")
        }
    }
}

/// The time of `--at` (RFC 3339), now when absent; nil when malformed.
func validationTime(_ at: String?) -> Date? {
    guard let at else { return Date() }
    return try? Date(at, strategy: .iso8601)
}

/// The message for a malformed `--at`.
func badValidationTime(_ at: String?) -> String {
    "--at must be an RFC 3339 time such as 2030-01-01T00:00:00Z (got '\(at ?? "")')"
}
