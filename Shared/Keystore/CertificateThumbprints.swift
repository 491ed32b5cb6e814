import Crypto
import SwiftASN1
import WireFormat
import X509

/// The thumbprints of a certificate's DER, written once for the suite: every `x5t`, `x5t#S256`, `cnf`, pin and metric
/// label is one of these (``Certificate``'s extension below, ``Credential``, the peer-certificate cache, the CLI).
public enum Thumbprint {
    /// SHA-256 of the DER (`x5t#S256`, RFC 8705 `cnf`).
    public static func sha256(der: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: der))
    }

    /// SHA-1 of the DER (JOSE `x5t`, the thumbprint Entra shows).
    public static func sha1(der: [UInt8]) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: der))
    }
}

/// A certificate's thumbprints: JOSE `x5t` / `x5t#S256`, the hex forms Azure shows and trusted-proxy lists use, and the
/// DER they are taken over.
extension Certificate {
    /// The DER encoding. A parsed certificate re-encodes to exactly the bytes it was read from (swift-certificates keeps
    /// them); only a certificate built in memory from parts that cannot be encoded throws.
    public func derEncoded() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// SHA-256 of the DER; nil only when ``derEncoded()`` throws.
    public var sha256Thumbprint: [UInt8]? {
        (try? derEncoded()).map(Thumbprint.sha256(der:))
    }

    /// SHA-1 of the DER (JOSE `x5t`, the thumbprint Entra shows); nil only when ``derEncoded()`` throws.
    public var sha1Thumbprint: [UInt8]? {
        (try? derEncoded()).map(Thumbprint.sha1(der:))
    }

    /// JOSE `x5t#S256`: base64url (unpadded) SHA-256 of the DER, as RFC 8705 `cnf` and the metrics' `x5t_s256` label
    /// name a certificate.
    public var x5tS256: String? {
        sha256Thumbprint.map { Base64URL.encode($0) }
    }

    /// Lower-case hex SHA-256 of the DER (`openssl x509 -noout -fingerprint -sha256` without the colons).
    public var sha256Hex: String? {
        sha256Thumbprint.map { Hex.encode($0) }
    }
}
