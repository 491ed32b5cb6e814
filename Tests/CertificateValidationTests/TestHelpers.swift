import CertificateValidation
import Crypto
import DevPKI
import Foundation
import SwiftASN1
import Testing
import TestSupport
import X509

/// A failure of a test helper step (openssl CLI, file system).
struct HelperError: Error, CustomStringConvertible {
    var description: String
}

/// A certificate with its P-256 key, for certificates with hand-picked extensions.
struct TestCertificate: Sendable {
    var certificate: Certificate
    var key: P256.Signing.PrivateKey

    var pem: String {
        get throws { try certificate.serializeAsPEM().pemString + "\n" }
    }

    /// A certificate for `commonName` signed by `issuer` (self-signed when nil) with exactly `extensions`.
    static func make(
        _ commonName: String, issuer: TestCertificate? = nil, version: Certificate.Version = .v3,
        notValidBefore: Date = Date().addingTimeInterval(-3600), notValidAfter: Date = Date().addingTimeInterval(86_400),
        serialNumber: Certificate.SerialNumber = .init(), subject: DistinguishedName? = nil,
        key: P256.Signing.PrivateKey = P256.Signing.PrivateKey(),
        extensions: Certificate.Extensions = Certificate.Extensions()
    ) throws -> TestCertificate {
        let subject = try subject ?? DistinguishedName {
            OrganizationName("CertAuth Test")
            CommonName(commonName)
        }
        let certificate = try Certificate(
            version: version, serialNumber: serialNumber, publicKey: .init(key.publicKey),
            notValidBefore: notValidBefore, notValidAfter: notValidAfter,
            issuer: issuer?.certificate.subject ?? subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(issuer?.key ?? key))
        return TestCertificate(certificate: certificate, key: key)
    }

    /// A CA with basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign.
    static func makeCA(_ commonName: String, issuer: TestCertificate? = nil) throws -> TestCertificate {
        try make(commonName, issuer: issuer, extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        })
    }
}

/// A subject built in process with the attributes of the seed's Operate certificate.
func seedOperateSubject() throws -> DistinguishedName {
    try DistinguishedName {
        EmailAddress("operate@camunda.com")
        CountryName("DE")
        StateOrProvinceName("BE")
        LocalityName("Berlin")
        OrganizationName("Camunda")
        OrganizationalUnitName("Operate")
        CommonName("operate")
    }
}

func subject(_ commonName: String, organization: String = "CertAuth Test") throws -> DistinguishedName {
    try DistinguishedName {
        OrganizationName(organization)
        CommonName(commonName)
    }
}

/// Expects `body` to throw a `CertificateValidationError` with `code` and a message containing every fragment.
@discardableResult
func expectRefusal(
    _ code: CertificateValidationError.Code, mentioning fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> ValidatedCertificate
) async -> CertificateValidationError? {
    do {
        let validated = try await body()
        Issue.record("expected refusal (\(code)), got a valid chain for \(validated.subject)", sourceLocation: sourceLocation)
        return nil
    } catch let error as CertificateValidationError {
        check(error, code: code, fragments: fragments, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected CertificateValidationError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects a synchronous throwing call to fail with `code` and a message containing every fragment.
@discardableResult
func expectError<T>(
    _ code: CertificateValidationError.Code, mentioning fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) -> CertificateValidationError? {
    do {
        let value = try body()
        Issue.record("expected \(code), got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as CertificateValidationError {
        check(error, code: code, fragments: fragments, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected CertificateValidationError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

private func check(_ error: CertificateValidationError, code: CertificateValidationError.Code, fragments: [String], sourceLocation: SourceLocation) {
    #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(error.message.contains(fragment), "'\(fragment)' missing in: \(error.message)", sourceLocation: sourceLocation)
    }
    #expect(error.description == error.message, sourceLocation: sourceLocation)
}

/// The names authn gives the settings (`AuthnSetting`), which its messages name; the library takes them as given.
enum AuthnSettingNames {
    static let trusted = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES"
    static let requireValidChain = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REQUIREVALIDCHAIN"
    static let revocationFailure = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_FAILURE"
    static let revocationByAnchor = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_REVOCATION_BY_ANCHOR"
}

func validator(trusting certificates: [Certificate], requireValidChain: Bool = true, purpose: CertificatePurpose = .client) -> ClientCertificateValidator {
    ClientCertificateValidator(settings: CertificateValidationSettings(
        trustedCertificates: certificates, requireValidChain: requireValidChain, purpose: purpose,
        trustedCertificatesSetting: AuthnSettingNames.trusted, requireValidChainSetting: AuthnSettingNames.requireValidChain))
}

// MARK: Processes and files

/// The result of a child process.
struct ProcessOutput {
    var status: Int32
    var output: String
}

/// Runs `executable` with `arguments` in `directory`, stdout and stderr together.
func runProcess(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory {
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// Runs the openssl CLI; throws unless it exits 0.
@discardableResult
func openssl(_ arguments: [String], in directory: String) throws -> String {
    try OpenSSLCLI.run(arguments, in: directory, mergeStandardError: true)
}

/// A temporary directory, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ prefix: String = "certval-tests") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let target = file(name)
        guard FileManager.default.createFile(atPath: target, contents: Data(text.utf8)) else {
            throw HelperError(description: "cannot write \(target)")
        }
        return target
    }

    func read(_ name: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file(name)) else {
            throw HelperError(description: "cannot read \(file(name))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
