// TEMPORARY API STUB on the authn branch: replaced by the certval branch's implementation at merge.
import Foundation
import X509

public enum CertificatePurpose: String, Sendable, CaseIterable { case client, server, any }
public struct CertificateValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable { case malformed, emptyChain, untrusted, expired, notYetValid, wrongPurpose, invalidCA, other }
    public var code: Code
    public var message: String
    public var description: String { message }
}
public struct CertificateValidationSettings: Sendable {
    public var trustedCertificates: [Certificate]
    public var requireValidChain: Bool
    public var purpose: CertificatePurpose
    public init(trustedCertificates: [Certificate], requireValidChain: Bool = true, purpose: CertificatePurpose = .client) {
        self.trustedCertificates = trustedCertificates; self.requireValidChain = requireValidChain; self.purpose = purpose
    }
}
public struct ValidatedCertificate: Sendable {
    public var leaf: Certificate
    public var chain: [Certificate]
    public var subject: String
    public var thumbprintSHA256: String
    public var notValidAfter: Date
}
public struct ClientCertificateValidator: Sendable {
    public init(settings: CertificateValidationSettings) {}
    public func validate(leaf: Certificate, intermediates: [Certificate], at time: Date = Date()) async throws(CertificateValidationError) -> ValidatedCertificate {
        throw CertificateValidationError(code: .other, message: "stub")
    }
    public func validate(chainPEM: String, at time: Date = Date()) async throws(CertificateValidationError) -> ValidatedCertificate {
        throw CertificateValidationError(code: .other, message: "stub")
    }
}
public enum CertificatePEM {
    public static func parse(_ pem: String) throws(CertificateValidationError) -> [Certificate] { [] }
    public static func parseForwarded(_ escaped: String) throws(CertificateValidationError) -> [Certificate] { [] }
    public static func load(files: [String], setting: String) throws(CertificateValidationError) -> [Certificate] { [] }
}
public enum DistinguishedNameFormat {
    public static func string(_ name: DistinguishedName) -> String { "" }
    public static func commonName(_ name: DistinguishedName) -> String? { nil }
}
public struct SubjectPrincipalMapper: Sendable {
    public init(pattern: String?, setting: String) throws(CertificateValidationError) {}
    public func principal(for subject: DistinguishedName) -> String? { nil }
}
