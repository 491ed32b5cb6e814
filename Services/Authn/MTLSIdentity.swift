import AuthProtocol
import CertificateValidation
import Foundation
import ServiceSupport
import Settings
import X509

/// Where the principal of a client certificate comes from (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PRINCIPAL_SOURCE`).
public enum MTLSPrincipalSource: String, Sendable, CaseIterable {
    /// The subject's CN, or group 1 of `…_MTLS_PRINCIPAL_PATTERN` over the RFC 4514 subject (the default).
    case subjectDN = "subject_dn"
    /// The certificate's SPIFFE ID (its one `spiffe://` URI SAN, as in an X.509-SVID), e.g. `spiffe://prod.example/ns/a/sa/b`.
    case spiffeID = "spiffe_id"
    /// The certificate's one URI SAN.
    case sanURI = "san_uri"
    /// The certificate's first DNS SAN.
    case sanDNS = "san_dns"
}

/// `…_MTLS_DEFAULT_ROLES_BY_ANCHOR`: default roles scoped to the trust anchor a client's chain ends at.
///
/// Syntax: groups separated by `;`, each `<anchor>=<role>,<role>`; `<anchor>` is the SHA-256 of the anchor's
/// public key (hex or base64url, as `certauth verify-chain --json` prints `spki_sha256`) or the path of one of the
/// `…_MTLS_TRUSTEDCERTIFICATES` files (every certificate in it). A client whose chain ends at a listed anchor gets that
/// group's roles instead of `…_MTLS_DEFAULT_ROLES` (an empty group, `<anchor>=`, gives none); other clients get
/// `…_MTLS_DEFAULT_ROLES`.
public struct AnchorDefaultRoles: Sendable, Equatable {
    public var anchor: String
    public var roles: [String]

    public init(anchor: String, roles: [String]) {
        self.anchor = anchor
        self.roles = roles
    }

    static func parse(_ text: String, variable: String) throws(ConfigurationError) -> [AnchorDefaultRoles] {
        var groups: [AnchorDefaultRoles] = []
        let split = try TrustAnchorReference.groups(
            text, variable: variable, splitAt: .first,
            expected: "<anchor>=<role>,<role> groups separated by ';', where <anchor> is the SHA-256 of a trusted CA's public key or one of the files in \(AuthnSetting.mtlsTrusted), e.g. /certs/partner-ca.pem=reader;/certs/ca.pem=reader,operator")
        for (anchor, value) in split {
            let roles = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for role in roles {
                if let problem = RoleName.problem(role) {
                    throw ConfigurationError(
                        variable: variable, message: "gives anchor '\(anchor)' the role '\(RoleName.shown(role))', which \(problem)")
                }
            }
            groups.append(AnchorDefaultRoles(anchor: anchor, roles: roles))
        }
        return groups
    }

    /// The groups keyed by the anchors' SPKI SHA-256 (hex), each checked against the trusted certificates: an anchor
    /// that is not one of them is a configuration error (a typo would otherwise silently give the global defaults).
    static func resolve(
        _ groups: [AnchorDefaultRoles], trustedFiles: [String], variable: String
    ) throws -> [String: [String]] {
        try TrustAnchorReference.resolve(groups.map { ($0.anchor, $0.roles) }, trustedFiles: trustedFiles, variable: variable)
    }
}

/// A trust anchor named in a per-anchor setting (`…_BY_ANCHOR`): one of the `…_MTLS_TRUSTEDCERTIFICATES` files (every
/// certificate in it) or the SHA-256 of a trusted certificate's public key (SPKI; hex or base64url).
enum TrustAnchorReference {
    enum Split {
        /// At the first '=' (the value may hold one).
        case first
        /// At the last '=' (the anchor, a file name, may hold one).
        case last
    }

    /// The `<anchor>=<value>` groups of `text`, separated by ';' (blank groups skipped), trimmed; a group without '='
    /// or without an anchor is a configuration error naming `variable` and what is `expected`.
    static func groups(
        _ text: String, variable: String, splitAt split: Split, expected: String
    ) throws(ConfigurationError) -> [(anchor: String, value: String)] {
        var groups: [(anchor: String, value: String)] = []
        for group in text.split(separator: ";") {
            let trimmed = group.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = split == .first ? trimmed.firstIndex(of: "=") : trimmed.lastIndex(of: "=") else {
                throw ConfigurationError(
                    variable: variable, message: "has the group '\(trimmed.prefix(80))' without '='; expected \(expected)")
            }
            let anchor = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            guard !anchor.isEmpty else {
                throw ConfigurationError(variable: variable, message: "has a group '\(trimmed.prefix(80))' that names no anchor before '='")
            }
            groups.append((anchor, trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
        }
        return groups
    }

    /// `entries` keyed by the SPKI SHA-256 (hex) of each anchor they name; an anchor that is none of the trusted
    /// certificates, or named twice, is a configuration error naming `variable`.
    static func resolve<Value>(
        _ entries: [(anchor: String, value: Value)], trustedFiles: [String], variable: String
    ) throws -> [String: Value] {
        var trustedByFile: [String: [Certificate]] = [:]
        var trustedDigests = Set<String>()
        for file in trustedFiles {
            let certificates = try CertificatePEM.load(files: [file], setting: AuthnSetting.mtlsTrusted)
            trustedByFile[file] = certificates
            trustedDigests.formUnion(certificates.map(CertificateNames.spkiSHA256))
        }
        var byAnchor: [String: Value] = [:]
        for entry in entries {
            let digests: [String]
            if let certificates = trustedByFile[entry.anchor] {
                digests = certificates.map(CertificateNames.spkiSHA256)
            } else if let digest = SPKIDigest.canonical(entry.anchor) {
                guard trustedDigests.contains(digest) else {
                    throw ConfigurationError(
                        variable: variable,
                        message: "names the anchor \(entry.anchor), the public key of none of the certificates in \(AuthnSetting.mtlsTrusted); `certauth verify-chain --json` prints each chain certificate's spki_sha256")
                }
                digests = [digest]
            } else {
                throw ConfigurationError(
                    variable: variable,
                    message: "names the anchor '\(entry.anchor)', which is neither one of the files in \(AuthnSetting.mtlsTrusted) (\(trustedFiles.joined(separator: ", "))) nor \(SPKIDigest.expectedForm)")
            }
            for digest in digests {
                if byAnchor[digest] != nil {
                    throw ConfigurationError(variable: variable, message: "names the anchor \(entry.anchor) twice (or a key that another group names too)")
                }
                byAnchor[digest] = entry.value
            }
        }
        return byAnchor
    }
}

/// The identity parts of the mTLS settings.
extension AuthnConfiguration {
    static func readIdentity(_ env: EnvironmentReader, into mtls: inout MTLSSettings?) throws(ConfigurationError) {
        typealias S = AuthnSetting
        if let text = env.string(S.mtlsPrincipalSource) {
            guard let source = MTLSPrincipalSource(rawValue: text.lowercased()) else {
                throw ConfigurationError(
                    variable: S.mtlsPrincipalSource,
                    message: "'\(text)' is not a principal source; expected subject_dn (the default: the CN, or \(S.mtlsSubjectPattern)), spiffe_id, san_uri or san_dns.")
            }
            if source != .subjectDN, mtls?.subjectPattern != nil {
                throw ConfigurationError(
                    variable: S.mtlsSubjectPattern,
                    message: "is set but \(S.mtlsPrincipalSource)=\(source.rawValue) takes the principal from the subjectAltName, so the pattern would not be used; remove one of them.")
            }
            mtls?.principalSource = source
        }
        if let text = env.string(S.mtlsDefaultRolesByAnchor) {
            mtls?.defaultRolesByAnchor = try AnchorDefaultRoles.parse(text, variable: S.mtlsDefaultRolesByAnchor)
        }
    }
}

/// The principal of a validated client certificate by the configured source.
enum MTLSPrincipal {
    static func principal(
        of leaf: Certificate, subject: String, source: MTLSPrincipalSource, mapper: SubjectPrincipalMapper
    ) throws(AuthenticationFailure) -> String {
        switch source {
        case .subjectDN:
            guard let principal = mapper.principal(for: leaf.subject), !principal.isEmpty else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "client certificate subject '\(subject)' names no principal: it has no CN, or it does not match \(AuthnSetting.mtlsSubjectPattern)", code: .certificatePrincipalMissing)
            }
            return principal
        case .spiffeID:
            let id = try single(
                CertificateNames.spiffeURIs(leaf), subject: subject,
                none: "carries no SPIFFE ID (a spiffe:// URI subjectAltName), which \(AuthnSetting.mtlsPrincipalSource)=spiffe_id takes the principal from; issue it as an X.509-SVID (SPIRE, cert-manager csi-driver-spiffe, step-ca) or choose another principal source",
                many: { "carries \($0) SPIFFE IDs; an X.509-SVID carries exactly one, so none is taken as the principal" })
            if let problem = SPIFFEID.problem(id) {
                throw AuthenticationFailure(.unauthorized, "client certificate '\(subject)': its SPIFFE ID '\(id.prefix(200))' \(problem)", code: .certificatePrincipalMissing)
            }
            return id
        case .sanURI:
            return try single(
                CertificateNames.uris(leaf), subject: subject,
                none: "has no URI subjectAltName, which \(AuthnSetting.mtlsPrincipalSource)=san_uri takes the principal from",
                many: { "has \($0) URI subjectAltNames; with \(AuthnSetting.mtlsPrincipalSource)=san_uri it must have exactly one, so that the principal is not a guess" })
        case .sanDNS:
            guard let name = CertificateNames.dnsNames(leaf).first, !name.isEmpty else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "client certificate '\(subject)' has no DNS subjectAltName, which \(AuthnSetting.mtlsPrincipalSource)=san_dns takes the principal from", code: .certificatePrincipalMissing)
            }
            return name
        }
    }

    /// The one name of `names` (the principal must not be a guess among several), else a refusal saying which.
    private static func single(
        _ names: [String], subject: String, none: String, many: (Int) -> String
    ) throws(AuthenticationFailure) -> String {
        guard names.count == 1 else {
            throw AuthenticationFailure(
                .unauthorized, "client certificate '\(subject)' \(names.isEmpty ? none : many(names.count))", code: .certificatePrincipalMissing)
        }
        return names[0]
    }

    /// The names sent to roles (`certificate_sans`): DNS and URI SANs, at most ``CertificateSAN/maximumCount``.
    static func sans(of leaf: Certificate) -> [String] {
        let names = CertificateNames.dnsNames(leaf).map { CertificateSAN.dns($0).wire } + CertificateNames.uris(leaf).map { CertificateSAN.uri($0).wire }
        return Array(names.filter { $0.utf8.count <= CertificateSAN.maximumLength + 4 }.prefix(CertificateSAN.maximumCount))
    }
}
