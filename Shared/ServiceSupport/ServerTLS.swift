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
            certificateChain: try certificateChain(credential), privateKey: .privateKey(try privateKey(credential)))
        tls.minimumTLSVersion = .tlsv12
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
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
    }
}

/// Identity of a caller on the internal protocol, read from its certificate.
public enum ServiceIdentity {
    /// The first DNS subjectAltName of the certificate, else its subject common name.
    public static func name(of certificate: Certificate) -> String? {
        if let san = try? certificate.extensions.subjectAlternativeNames {
            for name in san {
                if case .dnsName(let dns) = name { return dns }
            }
        }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let value = String(attribute.value) { return value }
            }
        }
        return nil
    }
}
