import Foundation
import SwiftASN1
import WireFormat
import X509

/// The checks applied to one candidate chain (leaf first, anchor last), each returning the first problem as a
/// specific, operator-facing error. The verifier policy (``PurposePolicy``) and the failure diagnosis share them, so
/// the verdict and the explanation come from the same rules.
///
/// They follow OpenSSL 3 (`X509_verify_cert` with `-purpose sslclient|sslserver`), so that our verdict agrees with
/// `openssl verify`:
/// - every certificate: within its validity dates; no critical extension we do not process;
/// - every certificate above the leaf: basicConstraints CA:TRUE (a version 1 self-signed anchor is tolerated),
///   path length respected, keyUsage (if present) includes keyCertSign; this holds for every purpose;
/// - purpose client: each certificate's extendedKeyUsage, if present, contains clientAuth (CAs included); the leaf's
///   keyUsage, if present, allows digitalSignature or keyAgreement; its Netscape certificate type, if present,
///   includes SSL client. No extendedKeyUsage at all is accepted.
/// - purpose server: the same with serverAuth (or Netscape/Microsoft SGC), keyUsage digitalSignature,
///   keyEncipherment or keyAgreement, Netscape SSL server.
enum ChainRules {
    static let netscapeCertificateType: ASN1ObjectIdentifier = [2, 16, 840, 1, 113_730, 1, 1]
    static let certificatePolicies: ASN1ObjectIdentifier = [2, 5, 29, 32]
    static let netscapeServerGatedCrypto: ASN1ObjectIdentifier = [2, 16, 840, 1, 113_730, 4, 1]
    static let microsoftServerGatedCrypto: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 311, 10, 3, 3]

    /// Critical extensions processed by ``PurposePolicy`` on top of `RFC5280Policy` (basicConstraints,
    /// nameConstraints, keyUsage). subjectAltName is processed by the name constraints; certificatePolicies is
    /// accepted as OpenSSL does when no explicit policy is required.
    static let purposePolicyCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.extendedKeyUsage, netscapeCertificateType,
        .X509ExtensionID.subjectAlternativeName, certificatePolicies,
        .X509ExtensionID.keyUsage,
    ]

    /// Every critical extension the verifier as a whole understands.
    static let handledCriticalExtensions: [ASN1ObjectIdentifier] =
        purposePolicyCriticalExtensions + [.X509ExtensionID.basicConstraints, .X509ExtensionID.nameConstraints]

    /// Where a certificate sits in the chain, for messages.
    enum Role {
        case leaf, intermediate, anchor

        var noun: String {
            switch self {
            case .leaf: "certificate"
            case .intermediate: "intermediate"
            case .anchor: "trusted CA"
            }
        }
    }

    static func role(of index: Int, in chain: [Certificate]) -> Role {
        index == 0 ? .leaf : index == chain.count - 1 ? .anchor : .intermediate
    }

    /// The subject as we print it, quoted.
    static func name(_ certificate: Certificate) -> String {
        let text = DistinguishedNameFormat.string(certificate.subject)
        return text.isEmpty ? "(empty subject, serial \(certificate.serialNumber))" : "'\(text)'"
    }

    static func timestamp(_ date: Date) -> String {
        RFC3339.string(date)
    }

    // MARK: All checks

    /// The first problem of `chain` at `time` for `purpose`, or nil when it is acceptable.
    static func firstProblem(
        in chain: [Certificate], at time: Date, purpose: CertificatePurpose, trustSetting: String
    ) -> CertificateValidationError? {
        structureProblem(in: chain) ?? dateProblem(in: chain, at: time, trustSetting: trustSetting) ?? caProblem(in: chain)
            ?? purposeProblem(in: chain, purpose: purpose) ?? NameConstraintRules.problem(in: chain)
    }

    // MARK: Leaf

    /// A leaf that is a CA (basicConstraints CA:TRUE), refused as a client certificate where the settings say so.
    static func certificateAuthorityLeafProblem(_ leaf: Certificate) -> CertificateValidationError? {
        guard case .isCertificateAuthority? = try? leaf.extensions.basicConstraints else { return nil }
        return CertificateValidationError(
            code: .wrongPurpose,
            message: "certificate \(name(leaf)) is a CA certificate (basicConstraints CA:TRUE), which is not accepted as a client certificate; issue the client its own certificate with basicConstraints=CA:FALSE (or none) and extendedKeyUsage=clientAuth, signed by that CA")
    }

    // MARK: Structure

    /// Unsupported critical extensions and version 1 certificates carrying extensions.
    static func structureProblem(in chain: [Certificate]) -> CertificateValidationError? {
        for (index, certificate) in chain.enumerated() {
            if let problem = criticalExtensionProblem(certificate, role: role(of: index, in: chain)) {
                return problem
            }
            if certificate.version == .v1, !certificate.extensions.isEmpty {
                return CertificateValidationError(
                    code: .malformed,
                    message: "\(role(of: index, in: chain).noun) \(name(certificate)) is a version 1 certificate but carries extensions, which X.509 forbids; reissue it as version 3")
            }
        }
        return nil
    }

    static func criticalExtensionProblem(_ certificate: Certificate, role: Role) -> CertificateValidationError? {
        for ext in certificate.extensions where ext.critical && !handledCriticalExtensions.contains(ext.oid) {
            return CertificateValidationError(
                code: .other,
                message: "\(role.noun) \(name(certificate)) has the critical extension \(ext.oid), which this service does not process; reissue it without that extension or with the extension marked non-critical")
        }
        return nil
    }

    // MARK: Dates

    static func dateProblem(in chain: [Certificate], at time: Date, trustSetting: String) -> CertificateValidationError? {
        for (index, certificate) in chain.enumerated() {
            let role = role(of: index, in: chain)
            if certificate.notValidAfter < certificate.notValidBefore {
                return CertificateValidationError(
                    code: .malformed,
                    message: "\(role.noun) \(name(certificate)) is never valid: notValidAfter \(timestamp(certificate.notValidAfter)) is before notValidBefore \(timestamp(certificate.notValidBefore)); reissue it")
            }
            if time > certificate.notValidAfter {
                let fix = switch role {
                case .leaf: "renew the client certificate"
                case .intermediate: "renew the intermediate CA certificate and send the new one with the client certificate"
                case .anchor: "renew the CA certificate and update \(trustSetting)"
                }
                return CertificateValidationError(
                    code: .expired,
                    message: "\(role.noun) \(name(certificate)) expired at \(timestamp(certificate.notValidAfter)) (checked at \(timestamp(time))); \(fix)")
            }
            if time < certificate.notValidBefore {
                return CertificateValidationError(
                    code: .notYetValid,
                    message: "\(role.noun) \(name(certificate)) is not valid before \(timestamp(certificate.notValidBefore)) (checked at \(timestamp(time))); wait until then, or check the clocks of this host and of the CA that issued it")
            }
        }
        return nil
    }

    // MARK: CA certificates

    static func caProblem(in chain: [Certificate]) -> CertificateValidationError? {
        var subCACount = 0
        for index in chain.indices.dropFirst() {
            let certificate = chain[index]
            let role = role(of: index, in: chain)
            let issued = name(chain[index - 1])
            let basicConstraints: BasicConstraints?
            let keyUsage: KeyUsage?
            do {
                basicConstraints = try certificate.extensions.basicConstraints
                keyUsage = try certificate.extensions.keyUsage
            } catch {
                return CertificateValidationError(
                    code: .invalidCA,
                    message: "\(role.noun) \(name(certificate)) has a basicConstraints or keyUsage extension that cannot be parsed (\(error)); reissue the CA certificate")
            }
            switch basicConstraints {
            case .isCertificateAuthority(let maxPathLength)?:
                if let maxPathLength, maxPathLength < subCACount {
                    return CertificateValidationError(
                        code: .invalidCA,
                        message: "\(role.noun) \(name(certificate)) allows \(maxPathLength) intermediate CA(s) below it (basicConstraints pathlen:\(maxPathLength)), but the chain has \(subCACount); shorten the chain or reissue the CA with a larger pathlen")
                }
            case .notCertificateAuthority?, nil:
                // OpenSSL tolerates a version 1 certificate only as the self-signed anchor.
                if certificate.version == .v1 && role == .anchor {
                    break
                }
                let state = basicConstraints == nil
                    ? (certificate.version == .v1 ? "a version 1 certificate without basicConstraints" : "basicConstraints missing")
                    : "basicConstraints CA:FALSE"
                return CertificateValidationError(
                    code: .invalidCA,
                    message: "\(role.noun) \(name(certificate)) issued \(issued) but is not a CA (\(state)); issue the CA certificate with basicConstraints=critical,CA:TRUE (openssl -extfile with basicConstraints=critical,CA:TRUE)")
            }
            if let keyUsage, !keyUsage.keyCertSign {
                return CertificateValidationError(
                    code: .invalidCA,
                    message: "\(role.noun) \(name(certificate)) issued \(issued) but its keyUsage (\(describe(keyUsage))) does not include keyCertSign; reissue the CA certificate with keyUsage=critical,keyCertSign,cRLSign")
            }
            if certificate.issuer != certificate.subject {
                subCACount += 1
            }
        }
        return nil
    }

    // MARK: Purpose

    static func purposeProblem(in chain: [Certificate], purpose: CertificatePurpose) -> CertificateValidationError? {
        guard purpose != .any else { return nil }
        for (index, certificate) in chain.enumerated() {
            let role = role(of: index, in: chain)
            if let problem = extendedKeyUsageProblem(certificate, role: role, purpose: purpose) {
                return problem
            }
            if role == .leaf, let problem = leafUsageProblem(certificate, purpose: purpose) {
                return problem
            }
        }
        return nil
    }

    static func extendedKeyUsageProblem(_ certificate: Certificate, role: Role, purpose: CertificatePurpose) -> CertificateValidationError? {
        let extendedKeyUsage: ExtendedKeyUsage?
        do {
            extendedKeyUsage = try certificate.extensions.extendedKeyUsage
        } catch {
            return CertificateValidationError(
                code: .wrongPurpose,
                message: "\(role.noun) \(name(certificate)) has an extendedKeyUsage extension that cannot be parsed (\(error)); reissue it with extendedKeyUsage=\(wanted(purpose))")
        }
        guard let extendedKeyUsage else { return nil }
        let oids = extendedKeyUsage.map { ASN1ObjectIdentifier($0) }
        let accepted: [ASN1ObjectIdentifier] = switch purpose {
        case .client: [.ExtendedKeyUsage.clientAuth]
        case .server: [.ExtendedKeyUsage.serverAuth, netscapeServerGatedCrypto, microsoftServerGatedCrypto]
        case .any: []
        }
        guard !oids.contains(where: accepted.contains) else { return nil }
        let listed = oids.map(usageName).joined(separator: ", ")
        let has = oids.count == 1 ? "\(listed) only" : "\(listed) but not \(wanted(purpose))"
        let message = role == .leaf
            ? "certificate \(name(certificate)) has extended key usage \(has); issue the certificate with extendedKeyUsage=\(wanted(purpose))"
            : "\(role.noun) \(name(certificate)) restricts extended key usage to \(listed), so it cannot vouch for \(purpose.rawValue) certificates (OpenSSL refuses it too); reissue the CA without extendedKeyUsage or with \(wanted(purpose)) added"
        return CertificateValidationError(code: .wrongPurpose, message: message)
    }

    static func leafUsageProblem(_ certificate: Certificate, purpose: CertificatePurpose) -> CertificateValidationError? {
        let keyUsage: KeyUsage?
        do {
            keyUsage = try certificate.extensions.keyUsage
        } catch {
            return CertificateValidationError(
                code: .wrongPurpose,
                message: "certificate \(name(certificate)) has a keyUsage extension that cannot be parsed (\(error)); reissue it with keyUsage=digitalSignature")
        }
        if let keyUsage {
            let allowed = switch purpose {
            case .client: keyUsage.digitalSignature || keyUsage.keyAgreement
            case .server: keyUsage.digitalSignature || keyUsage.keyEncipherment || keyUsage.keyAgreement
            case .any: true
            }
            if !allowed {
                let needed = purpose == .client
                    ? "neither digitalSignature nor keyAgreement"
                    : "none of digitalSignature, keyEncipherment, keyAgreement"
                return CertificateValidationError(
                    code: .wrongPurpose,
                    message: "certificate \(name(certificate)) has keyUsage \(describe(keyUsage)), which allows \(needed), so it cannot authenticate a TLS \(purpose.rawValue); issue the certificate with keyUsage=digitalSignature")
            }
        }
        if let bits = netscapeCertificateType(certificate) {
            let (bit, label): (UInt8, String) = purpose == .client ? (0x80, "client") : (0x40, "server")
            if bits & bit == 0 {
                return CertificateValidationError(
                    code: .wrongPurpose,
                    message: "certificate \(name(certificate)) has a Netscape certificate type (nsCertType) without SSL \(label); reissue it with nsCertType=\(label) or without nsCertType")
            }
        }
        return nil
    }

    /// The first byte of the Netscape certificate type bit string (OpenSSL's `ex_nscert`), nil when absent.
    /// An extension that does not parse counts as "no types", so it allows nothing.
    static func netscapeCertificateType(_ certificate: Certificate) -> UInt8? {
        guard let ext = certificate.extensions[oid: netscapeCertificateType] else { return nil }
        guard let node = try? DER.parse(ext.value), let bits = try? ASN1BitString(derEncoded: node) else { return 0 }
        return bits.bytes.first ?? 0
    }

    // MARK: Names for messages

    static func wanted(_ purpose: CertificatePurpose) -> String {
        purpose == .server ? "serverAuth" : "clientAuth"
    }

    /// OpenSSL's short names for extended key usages.
    static func usageName(_ oid: ASN1ObjectIdentifier) -> String {
        switch oid {
        case .ExtendedKeyUsage.serverAuth: "serverAuth"
        case .ExtendedKeyUsage.clientAuth: "clientAuth"
        case .ExtendedKeyUsage.codeSigning: "codeSigning"
        case .ExtendedKeyUsage.emailProtection: "emailProtection"
        case .ExtendedKeyUsage.timeStamping: "timeStamping"
        case .ExtendedKeyUsage.ocspSigning: "OCSPSigning"
        case .ExtendedKeyUsage.any: "anyExtendedKeyUsage"
        case netscapeServerGatedCrypto: "nsSGC"
        case microsoftServerGatedCrypto: "msSGC"
        default: String(describing: oid)
        }
    }

    static func describe(_ keyUsage: KeyUsage) -> String {
        let flags: [(Bool, String)] = [
            (keyUsage.digitalSignature, "digitalSignature"), (keyUsage.nonRepudiation, "nonRepudiation"),
            (keyUsage.keyEncipherment, "keyEncipherment"), (keyUsage.dataEncipherment, "dataEncipherment"),
            (keyUsage.keyAgreement, "keyAgreement"), (keyUsage.keyCertSign, "keyCertSign"),
            (keyUsage.cRLSign, "cRLSign"), (keyUsage.encipherOnly, "encipherOnly"), (keyUsage.decipherOnly, "decipherOnly"),
        ]
        let names = flags.filter(\.0).map(\.1)
        return names.isEmpty ? "empty" : names.joined(separator: ",")
    }
}
