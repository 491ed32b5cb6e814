import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Loads a credential from PEM files: a certificate (chain) file and a private key file, as cert-manager, Kubernetes
/// TLS secrets, csi-driver and spiffe-helper write them; or a directory in the Kubernetes TLS secret layout
/// (`tls.crt`, `tls.key`, optionally `ca.crt`).
public enum PEMCredentialLoader {
    /// The certificate chain file of the Kubernetes TLS secret layout.
    public static let certificateFile = "tls.crt"
    /// The private key file of the Kubernetes TLS secret layout.
    public static let privateKeyFile = "tls.key"
    /// The CA file of the layout (cert-manager writes the issuing CA there).
    public static let caFile = "ca.crt"

    /// The files that make up a credential at `path`: `tls.crt` and `tls.key` (and `ca.crt` when present) for a
    /// directory, the file itself otherwise; with a separate key file, certificate and key.
    public static func files(path: String, privateKeyPath: String? = nil) -> [String] {
        if let privateKeyPath { return [path, privateKeyPath] }
        guard KeystoreFile.isDirectory(path) else { return [path] }
        let ca = join(path, caFile)
        return [join(path, certificateFile), join(path, privateKeyFile)] + (FileManager.default.fileExists(atPath: ca) ? [ca] : [])
    }

    /// SHA-256 over the content of every file of the credential (what reloaders poll: Kubernetes swaps the `..data`
    /// symbolic link of a secret volume atomically, so only the content tells a new certificate); nil when a file
    /// cannot be read.
    public static func contentDigest(path: String, privateKeyPath: String? = nil) -> [UInt8]? {
        var hasher = SHA256()
        for file in files(path: path, privateKeyPath: privateKeyPath) {
            guard !KeystoreFile.isDirectory(file), let data = FileManager.default.contents(atPath: file) else { return nil }
            hasher.update(data: Array(String(data.count).utf8) + [0])
            hasher.update(data: data)
        }
        return Array(hasher.finalize())
    }

    /// The `ca.crt` of a directory in the Kubernetes TLS layout, when there is one.
    public static func caFile(inDirectory path: String) -> String? {
        guard KeystoreFile.isDirectory(path) else { return nil }
        let ca = join(path, caFile)
        return FileManager.default.fileExists(atPath: ca) ? ca : nil
    }

    /// Loads `tls.crt` and `tls.key` from `directory`.
    public static func load(directory: String, settings: KeystoreSettingNames, now: Date = Date()) throws(KeystoreError) -> LoadedKeystore {
        let certificate = join(directory, certificateFile)
        let key = join(directory, privateKeyFile)
        for (file, what) in [(certificate, "certificate chain"), (key, "private key")] where !FileManager.default.fileExists(atPath: file) {
            throw KeystoreError(
                code: .notFound,
                message: "Keystore directory \(directory) has no \((file as NSString).lastPathComponent) (the \(what)); \(settings.path) may name a PKCS#12 file or a directory in the Kubernetes TLS secret layout (tls.crt, tls.key, optional ca.crt): check that the secret is mounted whole."
            )
        }
        return try load(certificatePath: certificate, privateKeyPath: key, settings: settings, certificateSetting: settings.path, keySetting: settings.path, now: now)
    }

    /// Loads the certificate chain in `certificatePath` and the private key in `privateKeyPath`.
    /// - Parameters:
    ///   - certificateSetting, keySetting: the settings that name the files, for messages (default: the PEM settings).
    public static func load(
        certificatePath: String, privateKeyPath: String, settings: KeystoreSettingNames,
        certificateSetting: String? = nil, keySetting: String? = nil, now: Date = Date()
    ) throws(KeystoreError) -> LoadedKeystore {
        let certificateSetting = certificateSetting ?? settings.certificate
        let keySetting = keySetting ?? settings.privateKey
        let certificateBytes = try read(certificatePath, what: "Certificate file", setting: certificateSetting)
        let keyBytes = try read(privateKeyPath, what: "Private key file", setting: keySetting)
        let key = try parseKey(keyBytes, path: privateKeyPath, setting: keySetting)
        let certificates = try parseCertificates(certificateBytes, path: certificatePath, setting: certificateSetting)
        let publicKey = key.certificatePublicKey

        guard let leafIndex = certificates.firstIndex(where: { $0.certificate.publicKey == publicKey }) else {
            let subject = certificates[0].certificate.subject.description
            throw KeystoreError(
                code: .keyMismatch,
                message: "The private key in \(privateKeyPath) does not match the certificate in \(certificatePath) (subject \(subject)); \(keySetting) and \(certificateSetting) must name the key and the certificate issued for it (cert-manager and Kubernetes write them as tls.key and tls.crt of one secret)."
            )
        }
        let leaf = certificates[leafIndex]
        // Leaf first, then its issuers as found in the file (by issuer name, no duplicates).
        var chain = [leaf]
        var remaining = certificates.enumerated().filter { $0.offset != leafIndex }.map(\.element)
        var current = leaf.certificate
        while current.issuer != current.subject, let next = remaining.firstIndex(where: { $0.certificate.subject == current.issuer }) {
            let issuer = remaining.remove(at: next)
            if chain.contains(where: { $0.der == issuer.der }) { break }
            chain.append(issuer)
            current = issuer.certificate
        }
        let credential = Credential(
            alias: (certificatePath as NSString).lastPathComponent,
            certificate: leaf.certificate, certificateDER: leaf.der,
            chain: chain.map(\.certificate), chainDER: chain.map(\.der), privateKey: key)
        var warnings: [String] = []
        if let mode = KeystoreFile.permissions(path: privateKeyPath), mode & 0o007 != 0 {
            warnings.append(
                "Private key file \(privateKeyPath) is readable by every user (mode \(KeystoreFile.octal(mode))); restrict it to the service: "
                    + "chmod 600 when the service's user owns the file, or chgrp it to the service's group and chmod 640 "
                    + "(Kubernetes: fsGroup 10001 with defaultMode 0440)")
        }
        try KeystoreLoader.checkValidity(credential, path: certificatePath, now: now, warnings: &warnings)
        return LoadedKeystore(credential: credential, aliases: [credential.alias], warnings: warnings)
    }

    // MARK: - Parsing

    private static func join(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    private static func read(_ path: String, what: String, setting: String) throws(KeystoreError) -> [UInt8] {
        try KeystoreFile.read(path, what: what, setting: setting)
    }

    private struct ParsedCertificate {
        var certificate: Certificate
        var der: [UInt8]
    }

    private static func documents(_ bytes: [UInt8], path: String, setting: String, what: String) throws(KeystoreError) -> [PEMDocument] {
        guard KeystoreFile.looksLikePEM(bytes) else {
            let hint = KeystoreFile.sniff(bytes) == .empty ? "the file is empty" : "it holds no -----BEGIN line (a DER or PKCS#12 file?)"
            throw KeystoreError(
                code: .invalidCertificate,
                message: "\(path) is not a PEM file (\(hint)); \(setting) must name a PEM \(what) (a PKCS#12 keystore goes into the *_KEYSTORE_PATH / SERVER_SSL_KEY_STORE setting instead)."
            )
        }
        do {
            return try PEMDocument.parseMultiple(pemString: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "\(path) is not a valid PEM file (a damaged or truncated block); check \(setting) and re-export the \(what)."
            )
        }
    }

    private static func parseCertificates(_ bytes: [UInt8], path: String, setting: String) throws(KeystoreError) -> [ParsedCertificate] {
        let blocks = try documents(bytes, path: path, setting: setting, what: "certificate chain").filter { $0.discriminator == "CERTIFICATE" }
        guard !blocks.isEmpty else {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "\(path) holds no -----BEGIN CERTIFICATE----- block; \(setting) must name the certificate (chain) file, leaf first (tls.crt)."
            )
        }
        var result: [ParsedCertificate] = []
        for (number, block) in blocks.enumerated() {
            do {
                result.append(ParsedCertificate(certificate: try Certificate(derEncoded: block.derBytes), der: block.derBytes))
            } catch {
                throw KeystoreError(
                    code: .invalidCertificate,
                    message: "Certificate \(number + 1) in \(path) cannot be parsed as X.509; check \(setting) and replace the damaged certificate."
                )
            }
        }
        return result
    }

    private static func parseKey(_ bytes: [UInt8], path: String, setting: String) throws(KeystoreError) -> SigningKey {
        let blocks = try documents(bytes, path: path, setting: setting, what: "private key")
        let keyBlocks = blocks.filter { $0.discriminator.hasSuffix("PRIVATE KEY") }
        guard let block = keyBlocks.first else {
            throw KeystoreError(
                code: .noPrivateKey,
                message: "\(path) holds no private key (no -----BEGIN PRIVATE KEY----- block); \(setting) must name the key file (tls.key)."
            )
        }
        guard keyBlocks.count == 1 else {
            throw KeystoreError(
                code: .unsupportedKey,
                message: "\(path) holds \(keyBlocks.count) private keys; \(setting) must name a file with exactly one."
            )
        }
        let supported = "use an RSA key of 2048 bits or more, or an EC key on P-256 or P-384"
        func unsupported(_ what: String) -> KeystoreError {
            KeystoreError(code: .unsupportedKey, message: "The private key in \(path) is \(what), which is not supported; \(supported).")
        }
        let der = block.derBytes
        switch block.discriminator {
        case "ENCRYPTED PRIVATE KEY":
            throw KeystoreError(
                code: .unsupportedKey,
                message: "The private key in \(path) is encrypted; store it unencrypted in a file only the service can read (openssl pkey -in \(path) -out tls.key), or use a PKCS#12 keystore with a password."
            )
        case "RSA PRIVATE KEY":
            return try rsa(der, unsupported: unsupported)
        case "EC PRIVATE KEY":
            if let key = try? P256.Signing.PrivateKey(derRepresentation: der) { return .p256(key) }
            if let key = try? P384.Signing.PrivateKey(derRepresentation: der) { return .p384(key) }
            throw unsupported("an EC key on another curve")
        case "PRIVATE KEY":
            switch pkcs8Algorithm(der) {
            case .rsa:
                return try rsa(der, unsupported: unsupported)
            case .ec:
                if let key = try? P256.Signing.PrivateKey(derRepresentation: der) { return .p256(key) }
                if let key = try? P384.Signing.PrivateKey(derRepresentation: der) { return .p384(key) }
                throw unsupported("an EC key on another curve (P-521 or a non-NIST curve)")
            case .other(let name):
                throw unsupported("a \(name) key")
            case nil:
                throw KeystoreError(code: .unsupportedKey, message: "The private key in \(path) cannot be decoded (not PKCS#8); check \(setting) and re-export the key with openssl pkey -in key.pem -out tls.key.")
            }
        default:
            throw unsupported("a \(block.discriminator)")
        }
    }

    private static func rsa(_ der: [UInt8], unsupported: (String) -> KeystoreError) throws(KeystoreError) -> SigningKey {
        guard let key = try? _RSA.Signing.PrivateKey(derRepresentation: der) else {
            // swift-crypto refuses keys under 2048 bits; say the size when the modulus can be read.
            if let bits = rsaModulusBits(der), bits < 2048 { throw unsupported("an RSA key of \(bits) bits") }
            throw unsupported("an RSA key that cannot be used")
        }
        guard key.keySizeInBits >= 2048 else { throw unsupported("an RSA key of \(key.keySizeInBits) bits") }
        return .rsa(key)
    }

    /// The modulus size of a PKCS#1 RSAPrivateKey, or of one wrapped in PKCS#8 (its third element, an OCTET STRING).
    private static func rsaModulusBits(_ der: [UInt8]) -> Int? {
        guard let root = try? DER.parse(der), case .constructed(let nodes) = root.content else { return nil }
        let elements = Array(nodes)
        guard elements.count >= 3 else { return nil }
        if case .primitive(let wrapped) = elements[2].content, elements[2].identifier == .octetString {
            return rsaModulusBits(Array(wrapped))
        }
        guard case .primitive(let modulus) = elements[1].content, elements[1].identifier == .integer else { return nil }
        let bytes = modulus.drop { $0 == 0 }
        guard let first = bytes.first else { return 0 }
        return (bytes.count - 1) * 8 + (8 - first.leadingZeroBitCount)
    }

    private enum PKCS8Algorithm {
        case rsa
        case ec
        case other(String)
    }

    /// The algorithm of a PKCS#8 PrivateKeyInfo (RFC 5208): SEQUENCE { version, SEQUENCE { algorithm OID, ... }, key }.
    private static func pkcs8Algorithm(_ der: [UInt8]) -> PKCS8Algorithm? {
        guard let root = try? DER.parse(der), case .constructed(let nodes) = root.content else { return nil }
        var iterator = nodes.makeIterator()
        guard iterator.next() != nil, let algorithm = iterator.next(), case .constructed(let inner) = algorithm.content else { return nil }
        var innerIterator = inner.makeIterator()
        guard let oidNode = innerIterator.next(), let oid = try? ASN1ObjectIdentifier(derEncoded: oidNode) else { return nil }
        switch oid.description {
        case "1.2.840.113549.1.1.1": return .rsa
        case "1.2.840.10045.2.1": return .ec
        case "1.3.101.112": return .other("Ed25519")
        case "1.3.101.113": return .other("Ed448")
        case "1.2.840.113549.1.1.10": return .other("RSA-PSS (restricted)")
        default: return .other("OID \(oid)")
        }
    }
}
