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
        for group in text.split(separator: ";") {
            let trimmed = group.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigurationError(
                    variable: variable,
                    message: "has the group '\(trimmed.prefix(80))' without '='; expected <anchor>=<role>,<role> groups separated by ';', where <anchor> is the SHA-256 of a trusted CA's public key or one of the files in \(AuthnSetting.mtlsTrusted), e.g. /certs/partner-ca.pem=reader;/certs/ca.pem=reader,operator")
            }
            let anchor = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            guard !anchor.isEmpty else {
                throw ConfigurationError(variable: variable, message: "has a group '\(trimmed.prefix(80))' that names no anchor before '='")
            }
            let roles = trimmed[trimmed.index(after: equals)...].split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
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
        var trustedByFile: [String: [Certificate]] = [:]
        var trustedDigests = Set<String>()
        for file in trustedFiles {
            let certificates = try CertificatePEM.load(files: [file], setting: AuthnSetting.mtlsTrusted)
            trustedByFile[file] = certificates
            trustedDigests.formUnion(certificates.map(CertificateNames.spkiSHA256))
        }
        var byAnchor: [String: [String]] = [:]
        for group in groups {
            let digests: [String]
            if let certificates = trustedByFile[group.anchor] {
                digests = certificates.map(CertificateNames.spkiSHA256)
            } else if let digest = SPKIDigest.canonical(group.anchor) {
                guard trustedDigests.contains(digest) else {
                    throw ConfigurationError(
                        variable: variable,
                        message: "names the anchor \(group.anchor), the public key of none of the certificates in \(AuthnSetting.mtlsTrusted); `certauth verify-chain --json` prints each chain certificate's spki_sha256")
                }
                digests = [digest]
            } else {
                throw ConfigurationError(
                    variable: variable,
                    message: "names the anchor '\(group.anchor)', which is neither one of the files in \(AuthnSetting.mtlsTrusted) (\(trustedFiles.joined(separator: ", "))) nor \(SPKIDigest.expectedForm)")
            }
            for digest in digests {
                if byAnchor[digest] != nil {
                    throw ConfigurationError(variable: variable, message: "names the anchor \(group.anchor) twice (or a key that another group names too)")
                }
                byAnchor[digest] = group.roles
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
            let ids = CertificateNames.spiffeURIs(leaf)
            guard ids.count == 1 else {
                throw AuthenticationFailure(
                    .unauthorized,
                    ids.isEmpty
                        ? "client certificate '\(subject)' carries no SPIFFE ID (a spiffe:// URI subjectAltName), which \(AuthnSetting.mtlsPrincipalSource)=spiffe_id takes the principal from; issue it as an X.509-SVID (SPIRE, cert-manager csi-driver-spiffe, step-ca) or choose another principal source"
                        : "client certificate '\(subject)' carries \(ids.count) SPIFFE IDs; an X.509-SVID carries exactly one, so none is taken as the principal", code: .certificatePrincipalMissing)
            }
            if let problem = SPIFFEID.problem(ids[0]) {
                throw AuthenticationFailure(.unauthorized, "client certificate '\(subject)': its SPIFFE ID '\(ids[0].prefix(200))' \(problem)", code: .certificatePrincipalMissing)
            }
            return ids[0]
        case .sanURI:
            let uris = CertificateNames.uris(leaf)
            guard uris.count == 1 else {
                throw AuthenticationFailure(
                    .unauthorized,
                    uris.isEmpty
                        ? "client certificate '\(subject)' has no URI subjectAltName, which \(AuthnSetting.mtlsPrincipalSource)=san_uri takes the principal from"
                        : "client certificate '\(subject)' has \(uris.count) URI subjectAltNames; with \(AuthnSetting.mtlsPrincipalSource)=san_uri it must have exactly one, so that the principal is not a guess", code: .certificatePrincipalMissing)
            }
            return uris[0]
        case .sanDNS:
            guard let name = CertificateNames.dnsNames(leaf).first, !name.isEmpty else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "client certificate '\(subject)' has no DNS subjectAltName, which \(AuthnSetting.mtlsPrincipalSource)=san_dns takes the principal from", code: .certificatePrincipalMissing)
            }
            return name
        }
    }

    /// The names sent to roles (`certificate_sans`): DNS and URI SANs, at most ``CertificateSAN/maximumCount``.
    static func sans(of leaf: Certificate) -> [String] {
        let names = CertificateNames.dnsNames(leaf).map { CertificateSAN.dns($0).wire } + CertificateNames.uris(leaf).map { CertificateSAN.uri($0).wire }
        return Array(names.filter { $0.utf8.count <= CertificateSAN.maximumLength + 4 }.prefix(CertificateSAN.maximumCount))
    }
}
