/// One entry of a PKCS#12 file to write.
public struct PKCS12Entry: Sendable {
    /// Friendly name (alias) of the entry.
    public var alias: String
    /// PKCS#1, SEC1 or PKCS#8 DER. nil makes a trusted-certificate entry.
    public var privateKeyDER: [UInt8]?
    /// Leaf certificate DER.
    public var certificateDER: [UInt8]
    /// Issuer certificates DER (intermediates, optionally the root).
    public var chainDER: [[UInt8]]

    public init(alias: String, privateKeyDER: [UInt8]?, certificateDER: [UInt8], chainDER: [[UInt8]] = []) {
        self.alias = alias
        self.privateKeyDER = privateKeyDER
        self.certificateDER = certificateDER
        self.chainDER = chainDER
    }
}

/// Writes PKCS#12 files that OpenSSL 3, Java (keytool) and swift-nio-ssl can read:
/// certificates in a PBES2/AES-256-CBC encrypted safe, keys in PBES2/AES-256-CBC shrouded key bags,
/// HMAC-SHA256 integrity MAC; friendlyName and localKeyID (SHA-1 of the certificate) on keys and leaves.
public enum PKCS12Writer {
    /// - Parameters:
    ///   - password: the store password (MAC and certificate encryption).
    ///   - keyPassword: encrypts the private keys; nil means "same as `password`".
    /// Writes the keystore to `path`, created with mode 0600 from its first byte (see ``SecureFile``) and replaced
    /// atomically.
    public static func write(entries: [PKCS12Entry], password: String, keyPassword: String? = nil, toFile path: String) throws {
        try SecureFile.write(try write(entries: entries, password: password, keyPassword: keyPassword), to: path, mode: SecureFile.privateMode)
    }

    public static func write(entries: [PKCS12Entry], password: String, keyPassword: String? = nil) throws(KeystoreError) -> [UInt8] {
        guard !entries.isEmpty else {
            throw KeystoreError(code: .invalidCertificate, message: "Cannot write a PKCS#12 keystore without entries; pass at least one certificate.")
        }
        for entry in entries where entry.privateKeyDER?.isEmpty ?? false {
            throw KeystoreError(
                code: .unsupportedKey,
                message: "The private key of alias '\(entry.alias)' is empty; pass the DER encoding of the key or nil for a certificate-only entry."
            )
        }
        do {
            return try PKCS12Native.write(
                entries: entries.map {
                    PKCS12Native.WriteEntry(
                        alias: $0.alias, privateKeyDER: $0.privateKeyDER, certificateDER: $0.certificateDER, chainDER: $0.chainDER
                    )
                },
                storePassword: password,
                keyPassword: keyPassword
            )
        } catch {
            func alias(_ index: Int) -> String {
                entries.indices.contains(index) ? entries[index].alias : "?"
            }
            switch error {
            case .badKey(let index):
                throw KeystoreError(
                    code: .unsupportedKey,
                    message: "The private key of alias '\(alias(index))' cannot be parsed; pass PKCS#1, SEC1 or PKCS#8 DER."
                )
            case .badCertificate(let index):
                throw KeystoreError(
                    code: .invalidCertificate,
                    message: "A certificate of alias '\(alias(index))' cannot be parsed; pass X.509 DER (not PEM)."
                )
            case .keyMismatch(let index):
                throw KeystoreError(
                    code: .keyMismatch,
                    message: "The private key of alias '\(alias(index))' does not match its certificate; pass the key the certificate was issued for."
                )
            case .other(let detail):
                throw KeystoreError(
                    code: .invalidCertificate,
                    message: "Cannot write the PKCS#12 keystore (\(detail)); check the certificates and keys passed in."
                )
            }
        }
    }
}
