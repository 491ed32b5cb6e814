import Crypto
import _CryptoExtras
import Foundation
import Keystore
import NIOSSL
import SwiftASN1
import X509

/// Turns keystores and trust stores into swift-nio-ssl configurations for the internal protocol.
public enum ServerTLS {
    /// The TLS configuration of a listener: TLS 1.2 or newer, h2 and http/1.1 through ALPN,
    /// the client certificate asked for as `clientAuth` says and checked against the trust store.
    public static func configuration(
        credential: Credential, clientAuth: ClientAuthMode, trustRoots: [Certificate]
    ) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try certificateChain(credential), privateKey: .privateKey(try serverPrivateKey(credential)))
        tls.minimumTLSVersion = .tlsv12
        // TLS 1.2 with forward secrecy only: no RSA key exchange (which a handshake-signing key could not serve either).
        tls.cipherSuites = defaultCipherSuites.split(separator: ":").filter { !$0.hasPrefix("RSA+") }.joined(separator: ":")
        tls.applicationProtocols = ["h2", "http/1.1"]
        switch clientAuth {
        case .none: tls.certificateVerification = .none
        case .want: tls.certificateVerification = .optionalVerification
        case .need: tls.certificateVerification = .noHostnameVerification
        }
        if clientAuth != .none {
            tls.trustRoots = .certificates(try trustRoots.map(nioCertificate))
            tls.sendCANameList = true
        }
        return tls
    }

    /// A client TLS configuration presenting `credential` (when given) and trusting `trustRoots`
    /// (plus the system roots when `includeSystemRoots`).
    public static func clientConfiguration(
        credential: Credential?, trustRoots: [Certificate], includeSystemRoots: Bool
    ) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let credential {
            tls.certificateChain = try certificateChain(credential)
            tls.privateKey = .privateKey(try privateKey(credential))
        }
        if includeSystemRoots {
            tls.trustRoots = .default
            if !trustRoots.isEmpty {
                tls.additionalTrustRoots = [.certificates(try trustRoots.map(nioCertificate))]
            }
        } else {
            tls.trustRoots = .certificates(try trustRoots.map(nioCertificate))
        }
        return tls
    }

    static func certificateChain(_ credential: Credential) throws -> [NIOSSLCertificateSource] {
        try credential.chainDER.map { .certificate(try NIOSSLCertificate(bytes: $0, format: .der)) }
    }

    /// A listener's key: RSA keys sign handshakes with OpenSSL 3 (``OpenSSLServerKey``), other keys with BoringSSL.
    static func serverPrivateKey(_ credential: Credential) throws -> NIOSSLPrivateKey {
        if let key = OpenSSLServerKey(credential) { return NIOSSLPrivateKey(customPrivateKey: key) }
        return try privateKey(credential)
    }

    static func privateKey(_ credential: Credential) throws -> NIOSSLPrivateKey {
        let pem: String
        switch credential.privateKey {
        case .rsa(let key): pem = key.pemRepresentation
        case .p256(let key): pem = key.pemRepresentation
        case .p384(let key): pem = key.pemRepresentation
        }
        return try NIOSSLPrivateKey(bytes: Array(pem.utf8), format: .pem)
    }

    static func nioCertificate(_ certificate: Certificate) throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: certificate.derEncoded(), format: .der)
    }
}

/// Identity of a caller on the internal protocol, read from its certificate: the URI subjectAltName
/// `spiffe://<trust domain>/<service>` (docs/security-model.md), which `certauth pki init` puts into every service certificate
/// and no end-user certificate carries. A DNS name or common name is never taken for a service: an end-user
/// certificate named `authn` is not authn.
public enum ServiceIdentity {
    /// The trust domain when `CAMUNDA_SERVICE_TRUST_DOMAIN` is unset.
    public static let defaultTrustDomain = "certauth"

    /// The SPIFFE ID of `service` in `trustDomain`.
    public static func uri(service: String, trustDomain: String = defaultTrustDomain) -> String {
        "spiffe://\(trustDomain)/\(service)"
    }

    /// The service named by the certificate's SPIFFE ID in `trustDomain`; nil when it has none, several, or one of
    /// another trust domain or shape (`spiffe://<trust domain>/<one path segment>`).
    public static func name(of certificate: Certificate, trustDomain: String) -> String? {
        name(uris: uriNames(of: certificate), trustDomain: trustDomain)
    }

    /// The URI subjectAltNames of `certificate`, in order (none when it has no readable extension).
    public static func uriNames(of certificate: Certificate) -> [String] {
        guard let sans = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name in
            if case .uniformResourceIdentifier(let uri) = name { return uri }
            return nil
        }
    }

    /// The service named by the one SPIFFE ID among `uris` in `trustDomain`, as ``name(of:trustDomain:)``.
    public static func name(uris: [String], trustDomain: String) -> String? {
        var found: String?
        for uri in uris {
            guard uri.lowercased().hasPrefix("spiffe://") else { continue }
            guard found == nil else { return nil }  // an SVID carries exactly one SPIFFE ID
            let prefix = "spiffe://\(trustDomain)/"
            guard uri.hasPrefix(prefix) else { return nil }
            let service = uri.dropFirst(prefix.count)
            guard !service.isEmpty, service.count <= 63,
                  service.utf8.allSatisfy({ isServiceNameByte($0) }) else { return nil }
            found = String(service)
        }
        return found
    }

    /// Whether `trustDomain` is a SPIFFE trust domain name: lower-case letters, digits, `.`, `-`, `_`.
    public static func isValidTrustDomain(_ trustDomain: String) -> Bool {
        !trustDomain.isEmpty && trustDomain.count <= 255
            && trustDomain.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F }
    }

    private static func isServiceNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2E || byte == 0x2D || byte == 0x5F
    }
}
