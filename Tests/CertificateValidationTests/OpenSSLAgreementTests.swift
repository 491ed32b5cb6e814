import CertificateValidation
import Foundation
import Testing
import X509

private let seedDirectory = FileManager.default.temporaryDirectory
    .appendingPathComponent("certval-seed-pki-\(UUID().uuidString)").path

/// The seed's PKI ("Using mTLS/X.509 Authorizers"), made once with the seed's own openssl commands: a root CA, the
/// Operate and Identity certificates (`openssl req -new ... -subj "/emailAddress=.../C=DE/..."` then
/// `openssl x509 -req -CA rootCA.crt ...`), the intermediary scheme (root -> Zeebe intermediary certificate with
/// basicConstraints=critical,CA:TRUE -> component), and certificates that break one rule each.
struct SeedPKI: Sendable {
    let directory: String

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func text(_ name: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            throw HelperError(description: "cannot read \(path(name))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static let shared: Result<SeedPKI, any Error> = Result { try SeedPKI.make() }

    static func get() throws -> SeedPKI { try shared.get() }

    static let rootSubject = "/C=DE/ST=BE/L=Berlin/O=Camunda/CN=Camunda Root CA"

    private static func make() throws -> SeedPKI {
        let dir = seedDirectory
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit {
            try? FileManager.default.removeItem(atPath: seedDirectory)
        }
        func run(_ arguments: [String]) throws { try openssl(arguments, in: dir) }
        func write(_ name: String, _ text: String) throws {
            let target = (dir as NSString).appendingPathComponent(name)
            guard FileManager.default.createFile(atPath: target, contents: Data(text.utf8)) else {
                throw HelperError(description: "cannot write \(target)")
            }
        }
        func root(_ name: String, subject: String) throws {
            try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).crt",
                     "-days", "3650", "-subj", subject])
        }
        /// The seed's two steps: a CSR with a new key, then `x509 -req` signed by `ca` (with `ext` lines, if any).
        func issue(_ name: String, subject: String, ca: String = "rootCA", ext: String? = nil, bits: Int = 2048) throws {
            try run(["req", "-new", "-newkey", "rsa:\(bits)", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr",
                     "-subj", subject])
            var arguments = ["x509", "-req", "-CA", "\(ca).crt", "-CAkey", "\(ca).key", "-in", "\(name).csr",
                             "-out", "\(name).crt", "-days", "3650", "-CAcreateserial"]
            if let ext {
                try write("\(name).ext", ext + "\n")
                arguments += ["-extfile", "\(name).ext"]
            }
            try run(arguments)
        }
        func component(_ cn: String, unit: String) -> String {
            "/emailAddress=\(cn)@camunda.com/C=DE/ST=BE/L=Berlin/O=Camunda/OU=\(unit)/CN=\(cn)"
        }

        try root("rootCA", subject: rootSubject)
        // The seed's Operate certificate, with the seed's RSA-4096 key (the one 4096-bit case).
        try issue("operate", subject: component("operate", unit: "Operate"), bits: 4096)
        try issue("identity", subject: component("identity", unit: "Identity"))
        // Option 1 of the seed: Root CA -> Zeebe Intermediary Certificate (ZIC) -> Component Certificate (CC).
        try issue("zic", subject: "/C=DE/ST=BE/L=Berlin/O=Camunda/OU=Zeebe/CN=zeebe", ext: "basicConstraints=critical,CA:TRUE")
        try issue("tasklist", subject: component("tasklist", unit: "Tasklist"), ca: "zic")
        // A different CA, and one with the very same name as the trusted root but another key.
        try root("otherCA", subject: "/C=DE/O=Elsewhere/CN=Other Root CA")
        try issue("intruder", subject: component("intruder", unit: "Intruder"), ca: "otherCA")
        try root("impostorCA", subject: rootSubject)
        try issue("impostor", subject: component("impostor", unit: "Impostor"), ca: "impostorCA")
        // Expired: this openssl has no x509 -not_before/-not_after (3.4+), so `openssl ca` sets the past dates.
        try write("ca.cnf", """
            [ ca ]
            default_ca = seed_ca
            [ seed_ca ]
            database = index.txt
            new_certs_dir = .
            serial = ca.serial
            default_md = sha256
            policy = accept_any
            unique_subject = no
            preserve = yes
            [ accept_any ]
            emailAddress = optional
            countryName = optional
            stateOrProvinceName = optional
            localityName = optional
            organizationName = optional
            organizationalUnitName = optional
            commonName = supplied

            """)
        try write("index.txt", "")
        try write("ca.serial", "1000\n")
        try run(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "old.key", "-out", "old.csr",
                 "-subj", component("old", unit: "Old")])
        try run(["ca", "-batch", "-config", "ca.cnf", "-cert", "rootCA.crt", "-keyfile", "rootCA.key", "-in", "old.csr",
                 "-out", "old.crt", "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-notext"])
        // Purpose and CA rules, one broken at a time.
        try issue("webserver", subject: "/O=Camunda/CN=webserver", ext: "extendedKeyUsage=serverAuth")
        try issue("clientonly", subject: "/O=Camunda/CN=clientonly", ext: "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth")
        try issue("anyeku", subject: "/O=Camunda/CN=anyeku", ext: "extendedKeyUsage=anyExtendedKeyUsage")
        try issue("encipher", subject: "/O=Camunda/CN=encipher", ext: "keyUsage=critical,keyEncipherment")
        try issue("agreement", subject: "/O=Camunda/CN=agreement", ext: "keyUsage=keyAgreement")
        try issue("nsserver", subject: "/O=Camunda/CN=nsserver", ext: "nsCertType=server")
        try issue("nsclient", subject: "/O=Camunda/CN=nsclient", ext: "nsCertType=client")
        try issue("critsan", subject: "/O=Camunda/CN=critsan", ext: "subjectAltName=critical,DNS:critsan.camunda.test")
        try issue("notca", subject: "/O=Camunda/CN=notca", ext: "basicConstraints=CA:FALSE")
        try issue("undernotca", subject: "/O=Camunda/CN=undernotca", ca: "notca")
        try issue("v1ca", subject: "/O=Camunda/CN=v1ca")
        try issue("underv1ca", subject: "/O=Camunda/CN=underv1ca", ca: "v1ca")
        try issue("serverca", subject: "/O=Camunda/CN=serverca", ext: "basicConstraints=critical,CA:TRUE\nextendedKeyUsage=serverAuth")
        try issue("underserverca", subject: "/O=Camunda/CN=underserverca", ca: "serverca")
        try issue("signca", subject: "/O=Camunda/CN=signca", ext: "basicConstraints=critical,CA:TRUE\nkeyUsage=digitalSignature")
        try issue("undersignca", subject: "/O=Camunda/CN=undersignca", ca: "signca")
        return SeedPKI(directory: dir)
    }
}

/// One chain, checked by us and by `openssl verify`.
struct AgreementCase: Sendable, CustomTestStringConvertible {
    var name: String
    var leaf: String
    var untrusted: [String] = []
    var trusted = "rootCA"
    var purpose = CertificatePurpose.client
    var opensslFlags: [String] = []
    /// nil: valid.
    var refusal: CertificateValidationError.Code?
    var mentioning: [String] = []

    var testDescription: String { name }

    static let all: [AgreementCase] = [
        .init(name: "seed Operate certificate (RSA-4096, version 1, no extensions)", leaf: "operate"),
        .init(name: "seed Identity certificate", leaf: "identity"),
        .init(name: "intermediary scheme: component via ZIC", leaf: "tasklist", untrusted: ["zic"]),
        .init(name: "intermediary scheme: ZIC itself", leaf: "zic"),
        .init(
            name: "intermediary scheme without the intermediate", leaf: "tasklist", refusal: .untrusted,
            mentioning: ["certificate 'CN=tasklist, OU=Tasklist, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=tasklist@camunda.com'",
                         "was issued by 'CN=zeebe, OU=Zeebe, O=Camunda, L=Berlin, ST=BE, C=DE'",
                         "not among the 1 trusted certificates (subjects: 'CN=Camunda Root CA, O=Camunda, L=Berlin, ST=BE, C=DE')",
                         "add the CA to TRUSTED_SETTING or send the intermediate"]),
        .init(
            name: "only the intermediate trusted (partial chain)", leaf: "tasklist", trusted: "zic",
            opensslFlags: ["-partial_chain"]),
        .init(
            name: "wrong CA", leaf: "intruder", refusal: .untrusted,
            mentioning: ["'CN=intruder", "was issued by 'CN=Other Root CA, O=Elsewhere, C=DE'",
                         "not among the 1 trusted certificates", "add the CA to TRUSTED_SETTING or send the intermediate"]),
        .init(
            name: "CA with the trusted root's name but another key", leaf: "impostor", refusal: .untrusted,
            mentioning: ["'CN=impostor", "a trusted certificate has that name, but its key did not sign"]),
        .init(
            name: "expired (openssl ca, 2020-2021)", leaf: "old", refusal: .expired,
            mentioning: ["certificate 'CN=old, OU=Old", "expired at 2021-01-01T00:00:00Z", "renew the client certificate"]),
        .init(
            name: "serverAuth only", leaf: "webserver", refusal: .wrongPurpose,
            mentioning: ["certificate 'CN=webserver, O=Camunda' has extended key usage serverAuth only; issue the certificate with extendedKeyUsage=clientAuth"]),
        .init(name: "serverAuth only, checked for a server", leaf: "webserver", purpose: .server),
        .init(name: "serverAuth only, any purpose", leaf: "webserver", purpose: .any),
        .init(name: "clientAuth with digitalSignature", leaf: "clientonly"),
        .init(
            name: "clientAuth certificate checked for a server", leaf: "clientonly", purpose: .server, refusal: .wrongPurpose,
            mentioning: ["extended key usage clientAuth only; issue the certificate with extendedKeyUsage=serverAuth"]),
        .init(
            name: "anyExtendedKeyUsage alone", leaf: "anyeku", refusal: .wrongPurpose,
            mentioning: ["anyExtendedKeyUsage only"]),
        .init(
            name: "keyUsage keyEncipherment only", leaf: "encipher", refusal: .wrongPurpose,
            mentioning: ["keyUsage keyEncipherment, which allows neither digitalSignature nor keyAgreement", "keyUsage=digitalSignature"]),
        .init(name: "keyUsage keyAgreement", leaf: "agreement"),
        .init(
            name: "nsCertType server", leaf: "nsserver", refusal: .wrongPurpose,
            mentioning: ["nsCertType", "without SSL client"]),
        .init(name: "nsCertType client", leaf: "nsclient"),
        .init(name: "critical subjectAltName", leaf: "critsan"),
        .init(
            name: "intermediate with basicConstraints CA:FALSE", leaf: "undernotca", untrusted: ["notca"], refusal: .invalidCA,
            mentioning: ["intermediate 'CN=notca, O=Camunda' issued 'CN=undernotca, O=Camunda' but is not a CA (basicConstraints CA:FALSE)",
                         "basicConstraints=critical,CA:TRUE"]),
        .init(
            name: "version 1 intermediate (seed's x509 -req without -extfile)", leaf: "underv1ca", untrusted: ["v1ca"],
            refusal: .invalidCA, mentioning: ["intermediate 'CN=v1ca, O=Camunda'", "version 1 certificate without basicConstraints"]),
        .init(
            name: "intermediate restricted to serverAuth", leaf: "underserverca", untrusted: ["serverca"], refusal: .wrongPurpose,
            mentioning: ["intermediate 'CN=serverca, O=Camunda' restricts extended key usage to serverAuth"]),
        .init(
            name: "intermediate without keyCertSign", leaf: "undersignca", untrusted: ["signca"], refusal: .invalidCA,
            mentioning: ["intermediate 'CN=signca, O=Camunda'", "keyUsage (digitalSignature) does not include keyCertSign"]),
    ]
}

@Suite struct OpenSSLAgreementTests {
    @Test(arguments: AgreementCase.all)
    func verdictAgreesWithOpenSSLVerify(_ testCase: AgreementCase) async throws {
        let pki = try SeedPKI.get()
        // openssl verify -purpose sslclient -CAfile root.crt [-untrusted inter.crt] leaf.crt
        var arguments = ["verify", "-purpose", testCase.purpose == .server ? "sslserver" : testCase.purpose == .any ? "any" : "sslclient"]
        arguments += testCase.opensslFlags + ["-CAfile", pki.path("\(testCase.trusted).crt")]
        for name in testCase.untrusted {
            arguments += ["-untrusted", pki.path("\(name).crt")]
        }
        arguments.append(pki.path("\(testCase.leaf).crt"))
        let reference = try runProcess("/usr/bin/openssl", arguments)

        var settings = CertificateValidationSettings(
            trustedCertificates: try CertificatePEM.load(files: [pki.path("\(testCase.trusted).crt")], setting: "TRUSTED_SETTING"),
            purpose: testCase.purpose)
        settings.trustedCertificatesSetting = "TRUSTED_SETTING"
        let chainPEM = try ([testCase.leaf] + testCase.untrusted).map { try pki.text("\($0).crt") }.joined()
        let verdict: Result<ValidatedCertificate, CertificateValidationError>
        do {
            verdict = .success(try await ClientCertificateValidator(settings: settings).validate(chainPEM: chainPEM))
        } catch {
            verdict = .failure(error)
        }

        switch verdict {
        case .success(let validated):
            #expect(reference.status == 0, "we accept, openssl refuses: \(reference.output)")
            #expect(testCase.refusal == nil, "accepted, expected \(String(describing: testCase.refusal))")
            #expect(validated.chain.last == settings.trustedCertificates.first)
            #expect(validated.chain.count == 1 + testCase.untrusted.count + (testCase.trusted == testCase.leaf ? 0 : 1))
        case .failure(let error):
            #expect(reference.status != 0, "we refuse (\(error.message)), openssl accepts")
            #expect(error.code == testCase.refusal, "\(error.message)")
            for fragment in testCase.mentioning {
                #expect(error.message.contains(fragment), "'\(fragment)' missing in: \(error.message)")
            }
        }
    }

    @Test func seedSubjectIsWrittenAsKeycloakShowsIt() throws {
        let pki = try SeedPKI.get()
        let operate = try #require(try CertificatePEM.parse(pki.text("operate.crt")).first)
        // The seed: "the Subject DN field value will be CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com".
        #expect(DistinguishedNameFormat.string(operate.subject)
            == "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com")
        // Same attributes as openssl prints them in RFC 2253 form, apart from the separator and the emailAddress spelling.
        let openssl = try runProcess("/usr/bin/openssl", ["x509", "-in", pki.path("operate.crt"), "-noout", "-subject", "-nameopt", "RFC2253"])
        let expected = openssl.output.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "subject=", with: "").replacingOccurrences(of: ",", with: ", ")
            .replacingOccurrences(of: "emailAddress=", with: "EMAILADDRESS=")
        #expect(DistinguishedNameFormat.string(operate.subject) == expected)

        let keycloak = try SubjectPrincipalMapper(
            pattern: "CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)", setting: "PATTERN")
        #expect(keycloak.principal(for: operate.subject) == "operate")
        #expect(try SubjectPrincipalMapper(pattern: nil, setting: "PATTERN").principal(for: operate.subject) == "operate")
    }

    @Test func validatedFieldsForTheIntermediaryScheme() async throws {
        let pki = try SeedPKI.get()
        let root = try CertificatePEM.parse(pki.text("rootCA.crt"))
        let chain = try CertificatePEM.parse(pki.text("tasklist.crt") + pki.text("zic.crt"))
        let validated = try await validator(trusting: root).validate(leaf: chain[0], intermediates: [chain[1]])
        #expect(validated.chain.map(\.subject) == [chain[0].subject, chain[1].subject, root[0].subject])
        #expect(validated.subject == "CN=tasklist, OU=Tasklist, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=tasklist@camunda.com")
        #expect(validated.notValidAfter == [chain[0], chain[1], root[0]].map(\.notValidAfter).min())
        // x5t#S256 as openssl computes it: SHA-256 of the DER, base64url without padding.
        let hex = try runProcess("/usr/bin/openssl", ["x509", "-in", pki.path("tasklist.crt"), "-noout", "-fingerprint", "-sha256"])
            .output.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "") }
        let bytes = try #require(hex.flatMap { hexBytes($0) })
        #expect(validated.thumbprintSHA256 == Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: ""))
    }

    @Test func trustedCertificatesFromSeveralFilesAndBundles() async throws {
        let pki = try SeedPKI.get()
        let directory = try TemporaryDirectory()
        let bundle = try directory.write("bundle.pem", pki.text("otherCA.crt") + pki.text("rootCA.crt"))
        let trusted = try CertificatePEM.load(files: [bundle, " " + pki.path("zic.crt") + " "], setting: "TRUSTED")
        #expect(trusted.count == 3)
        #expect(trusted.map { DistinguishedNameFormat.commonName($0.subject) } == ["Other Root CA", "Camunda Root CA", "zeebe"])
        let intruder = try await validator(trusting: trusted).validate(chainPEM: try pki.text("intruder.crt"))
        #expect(intruder.subject.hasPrefix("CN=intruder"))
    }
}

func hexBytes(_ text: String) -> [UInt8]? {
    let characters = Array(text)
    guard characters.count % 2 == 0 else { return nil }
    return stride(from: 0, to: characters.count, by: 2).map { UInt8(String(characters[$0...$0 + 1]), radix: 16) }
        .reduce(into: [UInt8]?([])) { result, byte in
            guard let byte else { result = nil; return }
            result?.append(byte)
        }
}
