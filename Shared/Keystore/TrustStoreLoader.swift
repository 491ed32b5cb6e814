import Foundation
import SwiftASN1
import X509

/// Trust material: a PEM bundle (one or more CERTIFICATE blocks) or a PKCS#12 file with certificate entries.
public enum TrustStoreLoader {
    /// - Parameters:
    ///   - password: PKCS#12 store password; nil means empty.
    ///   - type: "PEM", "PKCS12" (also "P12", "PFX") or nil to detect from the content.
    ///   - setting: name of the setting holding `path`, used in messages.
    public static func load(path: String, password: String?, type: String?, setting: String) throws(KeystoreError) -> [Certificate] {
        if KeystoreFile.isDirectory(path) {
            // The Kubernetes TLS secret layout: the CA certificates are in ca.crt.
            guard let ca = PEMCredentialLoader.caFile(inDirectory: path) else {
                throw KeystoreError(
                    code: .notFound,
                    message: "Truststore directory \(path) has no ca.crt; check \(setting): it names a PEM bundle, a PKCS#12 file, or a directory in the Kubernetes TLS secret layout with ca.crt."
                )
            }
            return try load(path: ca, password: password, type: "PEM", setting: setting)
        }
        let data = try KeystoreFile.read(path, what: "Truststore", setting: setting)
        return try load(data: data, path: path, password: password, type: type, setting: setting)
    }

    /// Loads truststore bytes; `path` is only used in messages.
    public static func load(data: [UInt8], path: String, password: String?, type: String?, setting: String) throws(KeystoreError) -> [Certificate] {
        let format = KeystoreFile.sniff(data)
        if format == .jks || type?.uppercased() == "JKS" {
            throw jksError(path: path, setting: setting)
        }
        if format == .empty {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "Truststore \(path) is empty; check \(setting) and put the CA certificates (PEM) into the file."
            )
        }

        let isPEM: Bool
        switch type?.uppercased() {
        case nil, "":
            isPEM = format == .pem
        case "PEM":
            isPEM = true
        case "PKCS12", "P12", "PFX":
            isPEM = false
        case let other?:
            throw KeystoreError(
                code: .notPKCS12,
                message: "Unsupported truststore type '\(other)' for \(path); use PEM or PKCS12 (convert JKS with keytool -importkeystore -srckeystore truststore.jks -destkeystore truststore.p12 -deststoretype PKCS12)."
            )
        }
        return isPEM
            ? try loadPEM(data, path: path, setting: setting)
            : try loadPKCS12(data, path: path, password: password ?? "", setting: setting)
    }

    static func jksError(path: String, setting: String) -> KeystoreError {
        KeystoreError(
            code: .notPKCS12,
            message: "\(path) is not a PKCS#12 keystore: it is a Java KeyStore (JKS), which must be converted; run keytool -importkeystore -srckeystore truststore.jks -destkeystore truststore.p12 -deststoretype PKCS12 and point \(setting) to the .p12 file (or use a PEM bundle)."
        )
    }

    private static func loadPEM(_ data: [UInt8], path: String, setting: String) throws(KeystoreError) -> [Certificate] {
        let text = String(decoding: data, as: UTF8.self)
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "Truststore \(path) is not a valid PEM bundle; check \(setting) and that the file holds -----BEGIN CERTIFICATE----- blocks."
            )
        }
        var certificates: [Certificate] = []
        var number = 0
        for document in documents where document.discriminator == "CERTIFICATE" {
            number += 1
            do {
                certificates.append(try Certificate(derEncoded: document.derBytes))
            } catch {
                throw KeystoreError(
                    code: .invalidCertificate,
                    message: "Certificate \(number) in truststore \(path) cannot be parsed as X.509; check \(setting) and replace the damaged certificate."
                )
            }
        }
        guard !certificates.isEmpty else {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "Truststore \(path) contains no CERTIFICATE block; check \(setting) and put the CA certificates (PEM) into the file."
            )
        }
        return certificates
    }

    private static func loadPKCS12(_ data: [UInt8], path: String, password: String, setting: String) throws(KeystoreError) -> [Certificate] {
        let parsed: ParsedPKCS12
        do {
            parsed = try PKCS12Native.parse(data, storePassword: password, keyPassword: nil, skipKeys: true)
        } catch {
            switch error {
            case .notPKCS12:
                throw KeystoreError(
                    code: .notPKCS12,
                    message: "\(path) is not a PKCS#12 keystore (and not a PEM bundle); check \(setting)."
                )
            case .wrongPassword:
                throw KeystoreError(
                    code: .wrongPassword,
                    message: "Cannot open truststore \(path): wrong password\(password.isEmpty ? " (no password was given)" : ""); set the truststore password that belongs to \(setting)."
                )
            case .unsupportedAlgorithm:
                throw KeystoreError(
                    code: .notPKCS12,
                    message: "\(path) is not a PKCS#12 truststore this service can decrypt: it uses a legacy encryption algorithm (RC2/3DES); re-export it with AES or use a PEM bundle, and check \(setting)."
                )
            case .other(let detail):
                throw KeystoreError(
                    code: .notPKCS12,
                    message: "\(path) is not a PKCS#12 keystore that can be read (\(detail)); check \(setting)."
                )
            }
        }
        var certificates: [Certificate] = []
        var seen: Set<[UInt8]> = []
        for bag in parsed.bags where bag.kind == .certificate && !seen.contains(bag.der) {
            seen.insert(bag.der)
            do {
                certificates.append(try Certificate(derEncoded: bag.der))
            } catch {
                let name = bag.friendlyName.map { " '\($0)'" } ?? ""
                throw KeystoreError(
                    code: .invalidCertificate,
                    message: "Certificate\(name) in truststore \(path) cannot be parsed as X.509; check \(setting) and replace the damaged certificate."
                )
            }
        }
        guard !certificates.isEmpty else {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "Truststore \(path) contains no certificates; check \(setting) and import the CA certificates."
            )
        }
        return certificates
    }
}
