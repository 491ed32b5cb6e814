import Crypto
import SwiftASN1
import WireFormat
import X509

/// What identifies a certificate besides its subject: the SHA-256 of its public key (SubjectPublicKeyInfo DER, as
/// HPKP pins and mapping rules' `issuerSpkiSha256` name a CA), and its DNS and URI subjectAltNames.
public enum CertificateNames {
    /// SHA-256 of the certificate's SubjectPublicKeyInfo DER, lower-case hex (what
    /// `openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256` prints).
    public static func spkiSHA256(_ certificate: Certificate) -> String {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(certificate.publicKey)
        } catch {
            // A parsed key always re-encodes; should it not, no pin can match this digest of nothing.
            return ""
        }
        return Hex.encode(SHA256.hash(data: serializer.serializedBytes))
    }

    /// The DNS names of the certificate's subjectAltName, in order.
    public static func dnsNames(_ certificate: Certificate) -> [String] {
        guard let sans = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name in
            if case .dnsName(let dns) = name { return dns }
            return nil
        }
    }

    /// The URIs of the certificate's subjectAltName, in order.
    public static func uris(_ certificate: Certificate) -> [String] {
        guard let sans = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name in
            if case .uniformResourceIdentifier(let uri) = name { return uri }
            return nil
        }
    }

    /// The URI SANs that are SPIFFE IDs (`spiffe://`, scheme in any case).
    public static func spiffeURIs(_ certificate: Certificate) -> [String] {
        uris(certificate).filter { $0.lowercased().hasPrefix("spiffe://") }
    }

}

extension ValidatedCertificate {
    /// SHA-256 (hex) of the public key of the CA that issued the leaf: the chain's second certificate. nil when the
    /// leaf is itself the trust anchor (nothing above it was checked).
    public var issuerSPKISHA256: String? {
        chain.count > 1 ? CertificateNames.spkiSHA256(chain[1]) : nil
    }

    /// SHA-256 (hex) of the public key of the trust anchor the chain ends at (the leaf itself when it is trusted).
    public var anchorSPKISHA256: String {
        CertificateNames.spkiSHA256(chain[chain.count - 1])
    }
}
