import Foundation
import SwiftASN1
import X509

/// RFC 5280 § 4.2.1.10 name constraints, complete: dNSName (with leading-period and wildcard handling), iPAddress,
/// uniformResourceIdentifier, directoryName and rfc822Name (and the subject's emailAddress attributes); a constraint of
/// another form (otherName, x400Address, ediPartyName, registeredID) in a critical extension is refused, since it
/// cannot be checked.
///
/// swift-certificates' `RFC5280Policy` refuses every chain with a directoryName or rfc822Name constraint, which
/// refuses valid chains (issue 17); ``ChainPolicy`` uses these rules instead (to be offered upstream).
enum NameConstraintRules {
    /// The first name-constraint violation in `chain` (leaf first), or nil.
    static func problem(in chain: [Certificate]) -> CertificateValidationError? {
        for index in chain.indices.dropFirst() {
            let issuer = chain[index]
            let constraints: NameConstraints?
            do {
                constraints = try issuer.extensions.nameConstraints
            } catch {
                return CertificateValidationError(
                    code: .invalidCA,
                    message: "\(ChainRules.role(of: index, in: chain).noun) \(ChainRules.name(issuer)) has a nameConstraints extension that cannot be parsed (\(error)); reissue the CA")
            }
            guard let constraints else { continue }
            let critical = issuer.extensions[oid: .X509ExtensionID.nameConstraints]?.critical ?? false
            if critical, let unsupported = (constraints.permittedSubtrees + constraints.excludedSubtrees).first(where: { !isSupported($0) }) {
                return CertificateValidationError(
                    code: .invalidCA,
                    message: "\(ChainRules.role(of: index, in: chain).noun) \(ChainRules.name(issuer)) has a critical name constraint of a form this service cannot check (\(form(unsupported))); reissue the CA with dNSName, iPAddress, URI, email or directoryName constraints only")
            }
            for below in chain.indices.prefix(index) {
                let certificate = chain[below]
                // RFC 5280 § 6.1.3 (b): self-issued intermediates are not subject to the constraints; the leaf always is.
                if below > 0, certificate.issuer == certificate.subject { continue }
                let names: [GeneralName]
                do {
                    names = try self.names(of: certificate)
                } catch {
                    return CertificateValidationError(
                        code: .malformed,
                        message: "\(ChainRules.role(of: below, in: chain).noun) \(ChainRules.name(certificate)) has a subjectAltName that cannot be parsed (\(error)); reissue it")
                }
                for name in names {
                    if let excluded = constraints.excludedSubtrees.first(where: { matches(name, $0, excluded: true) == true }) {
                        return violation(certificate, below, chain, issuer: issuer, index, "\(describe(name)) is excluded by \(describe(excluded))")
                    }
                    let sameForm = constraints.permittedSubtrees.filter { matches(name, $0, excluded: false) != nil }
                    if !sameForm.isEmpty, !sameForm.contains(where: { matches(name, $0, excluded: false) == true }) {
                        let listed = sameForm.prefix(5).map(describe).joined(separator: ", ") + (sameForm.count > 5 ? ", …" : "")
                        return violation(certificate, below, chain, issuer: issuer, index, "\(describe(name)) is outside the permitted \(listed)")
                    }
                }
            }
        }
        return nil
    }

    private static func violation(
        _ certificate: Certificate, _ below: Int, _ chain: [Certificate], issuer: Certificate, _ index: Int, _ what: String
    ) -> CertificateValidationError {
        CertificateValidationError(
            code: .invalidCA,
            message: "\(ChainRules.role(of: below, in: chain).noun) \(ChainRules.name(certificate)) breaks the name constraints of \(ChainRules.role(of: index, in: chain).noun) \(ChainRules.name(issuer)): \(what); issue it with names the CA may vouch for")
    }

    /// The subject (when not empty), its emailAddress attributes as rfc822Names, and the subjectAltNames.
    static func names(of certificate: Certificate) throws -> [GeneralName] {
        var names: [GeneralName] = []
        if !certificate.subject.isEmpty {
            names.append(.directoryName(certificate.subject))
            for rdn in certificate.subject {
                for attribute in rdn where attribute.type == .RDNAttributeType.emailAddress {
                    if let text = String(attribute.value) { names.append(.rfc822Name(text)) }
                }
            }
        }
        names += Array(try certificate.extensions.subjectAlternativeNames ?? SubjectAlternativeNames())
        return names
    }

    static func isSupported(_ constraint: GeneralName) -> Bool {
        switch constraint {
        case .dnsName, .ipAddress, .uniformResourceIdentifier, .directoryName, .rfc822Name: true
        default: false
        }
    }

    /// nil: the constraint is of another form than the name; else whether the name is within it. `excluded`: a
    /// wildcard name is within an excluded subtree when it could stand for a name in it.
    static func matches(_ name: GeneralName, _ constraint: GeneralName, excluded: Bool) -> Bool? {
        switch (name, constraint) {
        case (.dnsName(let name), .dnsName(let constraint)):
            return dnsMatches(name.lowercased(), constraint: constraint.lowercased(), excluded: excluded)
        case (.ipAddress(let address), .ipAddress(let range)):
            return ipMatches(Array(address.bytes), range: Array(range.bytes))
        case (.uniformResourceIdentifier(let uri), .uniformResourceIdentifier(let constraint)):
            // The host of the URI, as a DNS name (RFC 5280: a leading period means subdomains only). A URI without a
            // host, or with an IP address as its host, is outside every URI constraint.
            guard let host = URLComponents(string: uri)?.host?.lowercased(), !host.isEmpty, IPv4Address(host) == nil,
                !host.hasPrefix("[")
            else { return false }
            return hostMatches(host, constraint: constraint.lowercased())
        case (.rfc822Name(let mailbox), .rfc822Name(let constraint)):
            return mailboxMatches(mailbox, constraint: constraint)
        case (.directoryName(let name), .directoryName(let constraint)):
            // The constraint's RDNs are the first RDNs of the name (RFC 5280 § 7.1: compared RDN by RDN).
            return constraint.count <= name.count && zip(constraint, name).allSatisfy { $0 == $1 }
        default:
            return nil
        }
    }

    /// DNS: `example.com` covers itself and every subdomain; `.example.com` only subdomains; the empty constraint
    /// everything. A wildcard name `*.zone` stands for the names one label below `zone`.
    static func dnsMatches(_ name: String, constraint: String, excluded: Bool) -> Bool {
        if constraint.isEmpty { return true }
        if name.hasPrefix("*.") {
            let zone = String(name.dropFirst(2))
            // Every name `*.zone` stands for (`label.zone`) is within `c` or `.c` exactly when `zone` is `c` or below it.
            let base = constraint.hasPrefix(".") ? String(constraint.dropFirst()) : constraint
            if hostMatches(zone, constraint: base) { return true }
            // An excluded `x.zone` (without leading period) is one of the names `*.zone` stands for.
            if excluded, !constraint.hasPrefix("."), let dot = constraint.firstIndex(of: "."),
                String(constraint[constraint.index(after: dot)...]) == zone
            {
                return true
            }
            return false
        }
        return hostMatches(name, constraint: constraint)
    }

    static func hostMatches(_ host: String, constraint: String) -> Bool {
        if constraint.isEmpty { return true }
        if constraint.hasPrefix(".") { return host.hasSuffix(constraint) && host.count > constraint.count }
        return host == constraint || host.hasSuffix("." + constraint)
    }

    static func ipMatches(_ address: [UInt8], range: [UInt8]) -> Bool {
        guard range.count == address.count * 2 else { return false }
        let network = range.prefix(address.count)
        let mask = range.suffix(address.count)
        return zip(zip(address, network), mask).allSatisfy { pair, mask in pair.0 & mask == pair.1 & mask }
    }

    /// rfc822Name: `user@host` one mailbox; `host` every mailbox at that host; `.host` every mailbox in its subdomains.
    /// Host parts compare case-insensitively, local parts exactly.
    static func mailboxMatches(_ mailbox: String, constraint: String) -> Bool {
        guard let at = mailbox.lastIndex(of: "@") else { return false }
        let local = mailbox[..<at]
        let host = mailbox[mailbox.index(after: at)...].lowercased()
        if let constraintAt = constraint.lastIndex(of: "@") {
            return local == constraint[..<constraintAt] && host == constraint[constraint.index(after: constraintAt)...].lowercased()
        }
        let domain = constraint.lowercased()
        if domain.hasPrefix(".") { return host.hasSuffix(domain) && host.count > domain.count }
        return host == domain
    }

    static func form(_ name: GeneralName) -> String {
        switch name {
        case .otherName: "otherName"
        case .x400Address: "x400Address"
        case .ediPartyName: "ediPartyName"
        case .registeredID: "registeredID"
        default: "\(name)"
        }
    }

    static func describe(_ name: GeneralName) -> String {
        switch name {
        case .dnsName(let dns): "DNS:\(dns)"
        case .ipAddress(let bytes):
            bytes.bytes.count == 8 || bytes.bytes.count == 32
                ? "IP:\(HostPolicy.ipString(Array(bytes.bytes.prefix(bytes.bytes.count / 2))))/\(HostPolicy.ipString(Array(bytes.bytes.suffix(bytes.bytes.count / 2))))"
                : "IP:\(HostPolicy.ipString(Array(bytes.bytes)))"
        case .uniformResourceIdentifier(let uri): "URI:\(uri)"
        case .rfc822Name(let mailbox): "email:\(mailbox)"
        case .directoryName(let dn): "dirName:\(DistinguishedNameFormat.string(dn))"
        default: form(name)
        }
    }
}

/// RFC 5280 path rules for every candidate chain, replacing swift-certificates' `RFC5280Policy` (which refuses
/// directoryName and rfc822Name name constraints outright): version, dates, basic constraints and path length,
/// keyUsage of CAs (``ChainRules``), and complete name constraints (``NameConstraintRules``).
public struct ChainPolicy: VerifierPolicy, Sendable {
    public let time: Date
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.basicConstraints, .X509ExtensionID.nameConstraints, .X509ExtensionID.keyUsage,
    ]

    public init(time: Date) {
        self.time = time
    }

    public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let certificates = Array(chain)
        if let problem = ChainRules.structureProblem(in: certificates)
            ?? ChainRules.dateProblem(in: certificates, at: time, trustSetting: "the trusted certificates")
            ?? ChainRules.caProblem(in: certificates) ?? NameConstraintRules.problem(in: certificates)
        {
            return .failsToMeetPolicy(reason: problem.message)
        }
        return .meetsPolicy
    }
}
