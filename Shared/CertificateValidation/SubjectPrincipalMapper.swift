import Foundation
import X509

/// Turns a certificate subject into a principal name: the CN, or the first capture group of a regular expression
/// that matches the whole RFC 4514 subject (Keycloak's "Subject DN" regex mode).
///
/// Patterns use ICU syntax (`NSRegularExpression`), which is close to Java's, so Keycloak patterns such as
/// `CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)` work unchanged. The subject is written by
/// ``DistinguishedNameFormat/string(_:)``.
public struct SubjectPrincipalMapper: Sendable {
    /// The pattern as configured; nil means "the subject's CN".
    public let pattern: String?
    private let expression: NSRegularExpression?

    /// - Parameters:
    ///   - pattern: nil for the CN; otherwise a regular expression with at least one capture group.
    ///   - setting: the setting that holds `pattern`, named in error messages.
    /// - Throws: `.malformed` when the pattern does not compile or has no capture group.
    public init(pattern: String?, setting: String) throws(CertificateValidationError) {
        self.pattern = pattern
        guard let pattern else {
            expression = nil
            return
        }
        let original: NSRegularExpression
        let anchored: NSRegularExpression
        do {
            // Compile the pattern alone first, so that the anchoring group below cannot change its meaning.
            original = try NSRegularExpression(pattern: pattern)
            anchored = try NSRegularExpression(pattern: "\\A(?:" + pattern + ")\\z")
        } catch {
            throw CertificateValidationError(
                code: .malformed,
                message: "\(setting): '\(pattern)' is not a valid regular expression; expected a pattern matching the whole subject with the principal in the first group, for example CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)")
        }
        guard original.numberOfCaptureGroups >= 1 else {
            throw CertificateValidationError(
                code: .malformed,
                message: "\(setting): '\(pattern)' has no capture group; put the part of the subject that names the principal in parentheses, for example CN=(.*?), O=Camunda, C=DE")
        }
        expression = anchored
    }

    /// The principal for `subject`; nil when the pattern does not match the whole subject, its first group is empty,
    /// or (without a pattern) there is no CN.
    public func principal(for subject: DistinguishedName) -> String? {
        guard let expression else {
            return DistinguishedNameFormat.commonName(subject).flatMap { $0.isEmpty ? nil : $0 }
        }
        let text = DistinguishedNameFormat.string(subject)
        let range = NSRange(text.startIndex..<text.endIndex, in: text)
        guard let match = expression.firstMatch(in: text, options: [], range: range),
              let group = Range(match.range(at: 1), in: text)
        else { return nil }
        let principal = String(text[group])
        return principal.isEmpty ? nil : principal
    }
}
