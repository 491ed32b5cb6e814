import Crypto
import SwiftASN1
import WireFormat
import X509

/// The thumbprints of a certificate, written once for the suite: JOSE `x5t` / `x5t#S256`, the hex forms Azure shows and
/// trusted-proxy lists use, and the DER they are taken over.
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
        (try? derEncoded()).map { Array(SHA256.hash(data: $0)) }
    }

    /// SHA-1 of the DER (JOSE `x5t`, the thumbprint Entra shows); nil only when ``derEncoded()`` throws.
    public var sha1Thumbprint: [UInt8]? {
        (try? derEncoded()).map { Array(Insecure.SHA1.hash(data: $0)) }
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
