import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// How strictly chains are judged (`CAMUNDA_SECURITY_AUTHENTICATION_MTLS_PROFILE`, `certauth verify-chain --profile`).
public enum ValidationProfile: String, Sendable, CaseIterable {
    /// What `openssl verify -purpose sslclient` accepts: the seeds' `openssl x509 -req` commands make version 1 leaves
    /// without extensions, and their users have them.
    case compatible
    /// RFC 5280 and the web-PKI profile as pyca/cryptography and Go apply them (``StrictProfile``), on top of
    /// `compatible`.
    case strict
}

/// The checks of the `strict` profile, each a `VerifierPolicy` of its own (swift-certificates' `RFC5280Policy` does
/// not make them). Their refusals name the certificate and the fix.
public enum StrictProfile {
    static func role(_ index: Int, _ chain: UnverifiedCertificateChain) -> ChainRules.Role {
        index == 0 ? .leaf : index == chain.count - 1 ? .anchor : .intermediate
    }

    static func label(_ index: Int, _ chain: UnverifiedCertificateChain) -> String {
        "\(role(index, chain).noun) \(ChainRules.name(chain[index]))"
    }

    static func isCA(_ certificate: Certificate) -> Bool {
        if case .isCertificateAuthority? = try? certificate.extensions.basicConstraints { return true }
        return false
    }

    static func isSelfIssued(_ certificate: Certificate) -> Bool {
        certificate.issuer == certificate.subject
    }

    /// Version 3 only (RFC 5280 § 4.1.2.1 for certificates with extensions; the web PKI requires v3 throughout).
    public struct Version3Policy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            for index in chain.indices where chain[index].version != .v3 {
                return .failsToMeetPolicy(reason: "\(label(index, chain)) is a version 1 certificate; the strict profile accepts version 3 only: reissue it with extensions (openssl x509 -req ... -extfile with basicConstraints, keyUsage, extendedKeyUsage, subjectKeyIdentifier, authorityKeyIdentifier)")
            }
            return .meetsPolicy
        }
    }

    /// Serial numbers positive and at most 20 octets (RFC 5280 § 4.1.2.2), not counting the sign octet DER adds when
    /// the high bit is set (as pyca/cryptography counts; swift-certificates' own random serials are 20 octets). A
    /// negative serial does not get this far: swift-certificates reads serials as unsigned.
    public struct SerialNumberPolicy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            for index in chain.indices {
                let bytes = chain[index].serialNumber.bytes
                if bytes.count > 20 {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) has a serial number of \(bytes.count) octets, over the 20 that RFC 5280 allows; reissue it with a shorter serial number")
                }
                if bytes.allSatisfy({ $0 == 0 }) {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) has the serial number zero; RFC 5280 requires a positive one: reissue it")
                }
            }
            return .meetsPolicy
        }
    }

    /// subjectKeyIdentifier in every CA certificate, authorityKeyIdentifier in every certificate that is not
    /// self-issued, and each authorityKeyIdentifier equal to its issuer's subjectKeyIdentifier (RFC 5280 § 4.2.1.1-2).
    public struct KeyIdentifierPolicy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            for index in chain.indices {
                let certificate = chain[index]
                let subjectKeyIdentifier: SubjectKeyIdentifier?
                let authorityKeyIdentifier: AuthorityKeyIdentifier?
                do {
                    subjectKeyIdentifier = try certificate.extensions.subjectKeyIdentifier
                    authorityKeyIdentifier = try certificate.extensions.authorityKeyIdentifier
                } catch {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) has a key identifier extension that cannot be parsed (\(error)); reissue it")
                }
                if index > 0, subjectKeyIdentifier == nil {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) is a CA without subjectKeyIdentifier, which RFC 5280 requires; reissue it with subjectKeyIdentifier=hash")
                }
                if index < chain.count - 1 {
                    guard !isSelfIssued(certificate) else { continue }
                    guard let authorityKeyIdentifier, let identifier = authorityKeyIdentifier.keyIdentifier else {
                        return .failsToMeetPolicy(reason: "\(label(index, chain)) has no authorityKeyIdentifier (keyid), which RFC 5280 requires; reissue it with authorityKeyIdentifier=keyid")
                    }
                    if let issuerIdentifier = try? chain[index + 1].extensions.subjectKeyIdentifier,
                        issuerIdentifier.keyIdentifier != identifier
                    {
                        return .failsToMeetPolicy(reason: "\(label(index, chain)) names another key as its issuer's (authorityKeyIdentifier differs from the subjectKeyIdentifier of \(ChainRules.name(chain[index + 1]))); reissue it from the CA that signs it")
                    }
                }
            }
            return .meetsPolicy
        }
    }

    /// basicConstraints critical in CA certificates, a CA:TRUE certificate never the leaf, keyCertSign only with
    /// CA:TRUE, keyUsage present in intermediate CAs (RFC 5280 § 4.2.1.3, 4.2.1.9; `openssl req -x509` roots have
    /// none, and a trust anchor is the operator's choice).
    public struct CAConsistencyPolicy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            if let problem = ChainRules.certificateAuthorityLeafProblem(chain[0]) {
                return .failsToMeetPolicy(reason: problem.message)
            }
            for index in chain.indices {
                let certificate = chain[index]
                let keyUsage = try? certificate.extensions.keyUsage
                if index > 0 {
                    if certificate.extensions[oid: .X509ExtensionID.basicConstraints]?.critical != true {
                        return .failsToMeetPolicy(reason: "\(label(index, chain)) has basicConstraints that are not marked critical, which RFC 5280 requires of CA certificates; reissue it with basicConstraints=critical,CA:TRUE")
                    }
                    if keyUsage == nil, index < chain.count - 1 {
                        return .failsToMeetPolicy(reason: "\(label(index, chain)) is a CA without keyUsage; the strict profile requires it: reissue it with keyUsage=critical,keyCertSign,cRLSign")
                    }
                } else if keyUsage?.keyCertSign == true, !isCA(certificate) {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) has keyUsage keyCertSign without basicConstraints CA:TRUE, which RFC 5280 forbids; reissue it without keyCertSign")
                }
            }
            return .meetsPolicy
        }
    }

    /// nameConstraints only in CA certificates and marked critical; policyConstraints marked critical (RFC 5280
    /// § 4.2.1.10, 4.2.1.11).
    public struct ConstraintPlacementPolicy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        static let policyConstraints: ASN1ObjectIdentifier = [2, 5, 29, 36]
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            for index in chain.indices {
                let certificate = chain[index]
                if let constraints = certificate.extensions[oid: .X509ExtensionID.nameConstraints] {
                    if !isCA(certificate) {
                        return .failsToMeetPolicy(reason: "\(label(index, chain)) carries nameConstraints but is not a CA; RFC 5280 allows them in CA certificates only: reissue it without nameConstraints")
                    }
                    if !constraints.critical {
                        return .failsToMeetPolicy(reason: "\(label(index, chain)) has nameConstraints that are not marked critical, which RFC 5280 requires; reissue it with nameConstraints=critical,...")
                    }
                }
                if let constraints = certificate.extensions[oid: Self.policyConstraints], !constraints.critical {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) has policyConstraints that are not marked critical, which RFC 5280 requires; reissue it with policyConstraints marked critical")
                }
            }
            return .meetsPolicy
        }
    }

    /// Extended key usage as the web PKI has it: in the leaf neither anyExtendedKeyUsage nor a critical extension; none
    /// on a self-signed trust anchor.
    public struct ExtendedKeyUsageProfilePolicy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            let leaf = chain[0]
            if let ext = leaf.extensions[oid: .X509ExtensionID.extendedKeyUsage] {
                if ext.critical {
                    return .failsToMeetPolicy(reason: "\(label(0, chain)) has a critical extendedKeyUsage, which the web PKI profile forbids in end-entity certificates; reissue it with extendedKeyUsage not marked critical")
                }
                if let usages = try? leaf.extensions.extendedKeyUsage, usages.contains(.any) {
                    return .failsToMeetPolicy(reason: "\(label(0, chain)) has anyExtendedKeyUsage, which the strict profile refuses in a client certificate; reissue it with extendedKeyUsage=clientAuth")
                }
            }
            let last = chain.count - 1
            if last > 0, isSelfIssued(chain[last]), chain[last].extensions[oid: .X509ExtensionID.extendedKeyUsage] != nil {
                return .failsToMeetPolicy(reason: "\(label(last, chain)) is a root with extendedKeyUsage, which the web PKI profile forbids in root certificates; use a root without extendedKeyUsage")
            }
            return .meetsPolicy
        }
    }

    /// RSA keys of at least 2048 bits.
    public struct KeySizePolicy: VerifierPolicy, Sendable {
        public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
        public init() {}
        public func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            for index in chain.indices {
                if let key = _RSA.Signing.PublicKey(chain[index].publicKey), key.keySizeInBits < 2048 {
                    return .failsToMeetPolicy(reason: "\(label(index, chain)) has a \(key.keySizeInBits)-bit RSA key; the strict profile requires at least 2048 bits: reissue it with a larger key")
                }
            }
            return .meetsPolicy
        }
    }

    /// Every check of the profile.
    @PolicyBuilder
    public static var policies: some VerifierPolicy {
        Version3Policy()
        SerialNumberPolicy()
        KeyIdentifierPolicy()
        CAConsistencyPolicy()
        ConstraintPlacementPolicy()
        ExtendedKeyUsageProfilePolicy()
        KeySizePolicy()
    }
}
