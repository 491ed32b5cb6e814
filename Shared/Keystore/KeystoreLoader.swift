import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Loads a private key and its certificate chain from a PKCS#12 keystore.
public enum KeystoreLoader {
    /// Days before expiry from which a warning is reported.
    public static let expiryWarningDays = 30

    /// Loads `path`.
    /// - Parameters:
    ///   - alias: nil or "" selects the only private-key entry (error listing the aliases if there are several).
    ///   - keyPassword: nil means "same as `password`".
    public static func load(
        path: String,
        password: String,
        alias: String?,
        keyPassword: String?,
        settings: KeystoreSettingNames,
        now: Date = Date()
    ) throws(KeystoreError) -> LoadedKeystore {
        if KeystoreFile.isDirectory(path) {
            return try PEMCredentialLoader.load(directory: path, settings: settings, now: now)
        }
        let data = try KeystoreFile.read(path, what: "Certificate keystore", shortName: "keystore", setting: settings.path)

        let loaded = try load(
            data: data, path: path, password: password, alias: alias, keyPassword: keyPassword,
            settings: settings, now: now
        )
        var warnings: [String] = []
        // Group-readable is how containers read a key they do not own (compose/init.sh: group 10001, mode 0640;
        // Kubernetes: fsGroup with defaultMode 0440), so only "others" bits are worth a warning.
        if let mode = KeystoreFile.permissions(path: path), mode & 0o007 != 0 {
            warnings.append(permissionAdvice(path: path, mode: mode))
        }
        warnings.append(contentsOf: loaded.warnings)
        return LoadedKeystore(credential: loaded.credential, aliases: loaded.aliases, warnings: warnings)
    }

    /// The warning for a keystore that every user on the machine can read, with fixes for hosts and containers.
    static func permissionAdvice(path: String, mode: Int) -> String {
        "Keystore \(path) is readable by every user (mode \(KeystoreFile.octal(mode))); restrict it to the service: "
            + "chmod 600 when the service's user owns the file, or chgrp it to the service's group and chmod 640 "
            + "(containers run as uid/gid 10001: compose/init.sh does chgrp 10001; Kubernetes: fsGroup 10001 with defaultMode 0440)"
    }

    /// Loads keystore bytes; `path` is only used in messages.
    public static func load(
        data: [UInt8],
        path: String,
        password: String,
        alias: String?,
        keyPassword: String?,
        settings: KeystoreSettingNames,
        now: Date = Date()
    ) throws(KeystoreError) -> LoadedKeystore {
        try checkFormat(data, path: path, settings: settings)

        let parsed: ParsedPKCS12
        do {
            parsed = try PKCS12Native.parse(data, storePassword: password, keyPassword: keyPassword, skipKeys: false)
        } catch {
            throw mapParseError(error, path: path, passwordIsEmpty: password.isEmpty, settings: settings)
        }

        var selection = Selection(parsed: parsed, path: path, settings: settings)
        var warnings: [String] = []
        if !parsed.macPresent {
            warnings.append(
                "Keystore \(path) has no integrity check (MAC); re-export it with openssl pkcs12 -export so that tampering is detected"
            )
        }
        let credential = try selection.credential(alias: alias, keyPasswordGiven: keyPassword != nil, warnings: &warnings)
        try checkValidity(credential, path: path, now: now, warnings: &warnings)
        return LoadedKeystore(credential: credential, aliases: selection.aliases, warnings: warnings)
    }

    // MARK: - Format and parse errors

    /// How to hand PEM files over instead of a keystore.
    static func pemAdvice(_ settings: KeystoreSettingNames) -> String {
        let pair = settings.certificate.isEmpty
            ? "name the certificate and key files with the PEM settings"
            : "set \(settings.certificate) to the certificate (chain) file and \(settings.privateKey) to the key file instead"
        return "\(pair), or point \(settings.path) to a directory holding tls.crt and tls.key"
    }

    static func exportCommand(alias: String, path: String) -> String {
        "openssl pkcs12 -export -inkey key.pem -in cert.pem -name \(alias) -out \(path)"
    }

    private static func checkFormat(_ data: [UInt8], path: String, settings: KeystoreSettingNames) throws(KeystoreError) {
        switch KeystoreFile.sniff(data) {
        case .empty:
            throw KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore: the file is empty; check \(settings.path) and create the keystore with \(exportCommand(alias: "<alias>", path: path))."
            )
        case .jks:
            throw KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore: it is a Java KeyStore (JKS); convert it with keytool -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 -deststoretype PKCS12 and point \(settings.path) to the .p12 file."
            )
        case .jceks:
            throw KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore: it is a Java JCEKS keystore; convert it with keytool -importkeystore -srckeystore keystore.jceks -srcstoretype JCEKS -destkeystore keystore.p12 -deststoretype PKCS12 and point \(settings.path) to the .p12 file."
            )
        case .pem:
            throw KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore: it is a PEM file; \(pemAdvice(settings)), or bundle key and certificate with \(exportCommand(alias: "<alias>", path: "keystore.p12")) and point \(settings.path) to the .p12 file."
            )
        case .other:
            return
        }
    }

    private static func mapParseError(
        _ error: PKCS12NativeError,
        path: String,
        passwordIsEmpty: Bool,
        settings: KeystoreSettingNames
    ) -> KeystoreError {
        switch error {
        case .notPKCS12:
            return KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore (it cannot be decoded); check \(settings.path) and create the keystore with \(exportCommand(alias: "<alias>", path: path))."
            )
        case .wrongPassword:
            let hint = passwordIsEmpty ? " (no password was given)" : ""
            return KeystoreError(
                code: .wrongPassword,
                message: "Cannot open keystore \(path): wrong password\(hint); set \(settings.password) to the password the keystore was exported with."
            )
        case .unsupportedAlgorithm:
            return KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore this service can decrypt: it uses a legacy encryption algorithm (RC2/3DES) that the system OpenSSL does not provide; re-export it with AES (openssl pkcs12 -export without -legacy, or keytool from Java 12+) and check \(settings.path)."
            )
        case .other(let detail):
            return KeystoreError(
                code: .notPKCS12,
                message: "\(path) is not a PKCS#12 keystore that can be read (\(detail)); re-create it with \(exportCommand(alias: "<alias>", path: path)) and check \(settings.path)."
            )
        }
    }

    // MARK: - Validity

    static func checkValidity(
        _ credential: Credential,
        path: String,
        now: Date,
        warnings: inout [String]
    ) throws(KeystoreError) {
        let certificate = credential.certificate
        let subject = certificate.subject.description
        let fix = "issue a new certificate, upload it to the app registration and replace the keystore \(path)"
        if now > certificate.notValidAfter {
            throw KeystoreError(
                code: .expired,
                message: "Certificate of alias '\(credential.alias)' expired on \(KeystoreFile.iso8601(certificate.notValidAfter)) (subject \(subject)); \(fix)."
            )
        }
        if now < certificate.notValidBefore {
            throw KeystoreError(
                code: .notYetValid,
                message: "Certificate of alias '\(credential.alias)' is not valid before \(KeystoreFile.iso8601(certificate.notValidBefore)) (subject \(subject)); check the system clock, or \(fix)."
            )
        }
        let remaining = certificate.notValidAfter.timeIntervalSince(now)
        if remaining < Double(expiryWarningDays) * 86_400 {
            let days = Int(remaining / 86_400)
            warnings.append(
                "Certificate of alias '\(credential.alias)' (subject \(subject)) expires on \(KeystoreFile.iso8601(certificate.notValidAfter)), in \(days) day\(days == 1 ? "" : "s"); \(fix) before then"
            )
        }
    }
}

// MARK: - Entry selection

/// Resolves aliases, the private key, the leaf and the chain from the decoded bags.
private struct Selection {
    let parsed: ParsedPKCS12
    let path: String
    let settings: KeystoreSettingNames
    let keyIndices: [Int]
    let certIndices: [Int]
    /// Parsed certificates by bag index (nil when swift-certificates rejects it).
    private var certificates: [Int: Certificate?] = [:]

    init(parsed: ParsedPKCS12, path: String, settings: KeystoreSettingNames) {
        self.parsed = parsed
        self.path = path
        self.settings = settings
        self.keyIndices = parsed.bags.indices.filter { parsed.bags[$0].kind == .key }
        self.certIndices = parsed.bags.indices.filter { parsed.bags[$0].kind == .certificate }
    }

    private var bags: [PKCS12Bag] { parsed.bags }

    private static func same(_ a: String, _ b: String) -> Bool {
        a.lowercased() == b.lowercased()
    }

    private var keyIDs: [[UInt8]] {
        keyIndices.compactMap { bags[$0].localKeyID }
    }

    /// Certificate bag linked to a key bag by localKeyID.
    private func linkedCertificateIndex(forKey keyIndex: Int) -> Int? {
        guard let id = bags[keyIndex].localKeyID else { return nil }
        return certIndices.first { bags[$0].localKeyID == id }
    }

    /// The alias of a key entry: its friendly name, else the friendly name of its linked certificate.
    func keyAlias(_ keyIndex: Int) -> String? {
        if let name = bags[keyIndex].friendlyName, !name.isEmpty {
            return name
        }
        if let cert = linkedCertificateIndex(forKey: keyIndex), let name = bags[cert].friendlyName, !name.isEmpty {
            return name
        }
        return nil
    }

    /// Friendly names of certificate bags that are not part of a key entry (trusted-certificate entries).
    private var certificateOnlyAliases: [(index: Int, name: String)] {
        let ids = keyIDs
        let keyNames = keyIndices.compactMap { keyAlias($0) }
        return certIndices.compactMap { index in
            let bag = bags[index]
            guard let name = bag.friendlyName, !name.isEmpty else { return nil }
            if let id = bag.localKeyID, ids.contains(id) { return nil }
            if keyNames.contains(where: { Self.same($0, name) }) { return nil }
            return (index, name)
        }
    }

    /// Aliases of the private-key entries (file order), then of the trusted-certificate entries,
    /// without case-insensitive duplicates.
    var aliases: [String] {
        var result: [String] = []
        for name in keyIndices.compactMap({ keyAlias($0) }) + certificateOnlyAliases.map(\.name)
        where !result.contains(where: { Self.same($0, name) }) {
            result.append(name)
        }
        return result
    }

    private var aliasList: String {
        let list = aliases
        return list.isEmpty ? "(none)" : list.joined(separator: ", ")
    }

    private mutating func certificate(at index: Int) -> Certificate? {
        if let cached = certificates[index] {
            return cached
        }
        let parsedCertificate = try? Certificate(derEncoded: bags[index].der)
        certificates[index] = .some(parsedCertificate)
        return parsedCertificate
    }

    // MARK: Selecting the key entry

    mutating func credential(alias wanted: String?, keyPasswordGiven: Bool, warnings: inout [String]) throws(KeystoreError) -> Credential {
        let keyIndex = try selectKey(alias: wanted, warnings: &warnings)
        let alias = keyAlias(keyIndex) ?? (wanted ?? "")
        let bag = bags[keyIndex]

        if bag.keyDecryptUnsupported {
            throw KeystoreError(
                code: .unsupportedKey,
                message: "The private key of alias '\(alias)' in \(path) is encrypted with a legacy algorithm the system OpenSSL does not provide; re-export the keystore with AES (openssl pkcs12 -export without -legacy)."
            )
        }
        if bag.keyDecryptFailed {
            let setting = keyPasswordGiven
                ? "set \(settings.keyPassword) to the password of the private key"
                : "the key is protected by a password different from the keystore password: set \(settings.keyPassword)"
            throw KeystoreError(
                code: .wrongKeyPassword,
                message: "Cannot decrypt the private key of alias '\(alias)' in \(path): wrong key password; \(setting)."
            )
        }
        let signingKey = try makeSigningKey(bag, alias: alias)
        let publicKey = signingKey.certificatePublicKey

        guard let leafIndex = findLeaf(keyIndex: keyIndex, alias: alias, publicKey: publicKey) else {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "Alias '\(alias)' in keystore \(path) holds a private key but no certificate; re-create the keystore with \(KeystoreLoader.exportCommand(alias: alias, path: path))."
            )
        }
        guard let leaf = certificate(at: leafIndex) else {
            throw KeystoreError(
                code: .invalidCertificate,
                message: "The certificate of alias '\(alias)' in keystore \(path) cannot be parsed as X.509; re-create the keystore with \(KeystoreLoader.exportCommand(alias: alias, path: path))."
            )
        }
        guard leaf.publicKey == publicKey else {
            throw KeystoreError(
                code: .keyMismatch,
                message: "The private key of alias '\(alias)' does not match its certificate (subject \(leaf.subject)) in keystore \(path); re-create the keystore from the matching pair with \(KeystoreLoader.exportCommand(alias: alias, path: path))."
            )
        }

        let (chain, chainIndices) = buildChain(leaf: leaf, leafIndex: leafIndex)
        return Credential(
            alias: alias,
            certificate: leaf,
            certificateDER: bags[leafIndex].der,
            chain: chain,
            chainDER: chainIndices.map { bags[$0].der },
            privateKey: signingKey
        )
    }

    private func selectKey(alias wanted: String?, warnings: inout [String]) throws(KeystoreError) -> Int {
        if let wanted, !wanted.isEmpty {
            let matches = keyIndices.filter { index in keyAlias(index).map { Self.same($0, wanted) } ?? false }
            if let first = matches.first {
                if matches.count > 1 {
                    warnings.append("Keystore \(path) holds \(matches.count) private keys with alias '\(wanted)'; using the first one")
                }
                return first
            }
            // A trusted-certificate entry of that name, or a file without any private key
            // (openssl pkcs12 -export -nokeys drops -name, so its certificate has no alias).
            if keyIndices.isEmpty || certificateOnlyAliases.contains(where: { Self.same($0.name, wanted) }) {
                throw noPrivateKey(alias: wanted)
            }
            throw KeystoreError(
                code: .unknownAlias,
                message: "Alias '\(wanted)' not found in keystore \(path); aliases present: \(aliasList). Set \(settings.alias) to one of them (aliases are not case-sensitive)."
            )
        }

        switch keyIndices.count {
        case 1:
            return keyIndices[0]
        case 0:
            let certOnly = certificateOnlyAliases
            if certOnly.count == 1 {
                throw noPrivateKey(alias: certOnly[0].name)
            }
            throw KeystoreError(
                code: .noPrivateKey,
                message: "Keystore \(path) holds a certificate but no private key (aliases present: \(aliasList)); re-create it with \(KeystoreLoader.exportCommand(alias: "<alias>", path: path)) and check \(settings.path)."
            )
        default:
            throw KeystoreError(
                code: .unknownAlias,
                message: "Keystore \(path) holds \(keyIndices.count) private keys (aliases present: \(aliasList)); set \(settings.alias) to choose one."
            )
        }
    }

    private func noPrivateKey(alias: String) -> KeystoreError {
        KeystoreError(
            code: .noPrivateKey,
            message: "Alias '\(alias)' in keystore \(path) holds a certificate but no private key; create the keystore with both with \(KeystoreLoader.exportCommand(alias: alias, path: path)) (or set \(settings.alias) to a key entry)."
        )
    }

    private func makeSigningKey(_ bag: PKCS12Bag, alias: String) throws(KeystoreError) -> SigningKey {
        let supported = "use an RSA key of 2048 bits or more, or an EC key on P-256 or P-384"
        func unsupported(_ what: String) -> KeystoreError {
            KeystoreError(
                code: .unsupportedKey,
                message: "The private key of alias '\(alias)' in \(path) is \(what), which is not supported; \(supported)."
            )
        }
        switch bag.keyType {
        case .rsa(let bits):
            if bits > 0 && bits < 2048 {
                throw unsupported("an RSA key of \(bits) bits")
            }
            do {
                return .rsa(try _RSA.Signing.PrivateKey(derRepresentation: bag.der))
            } catch {
                throw unsupported("an RSA key that cannot be used")
            }
        case .ec(.p256, let name):
            do {
                return .p256(try P256.Signing.PrivateKey(derRepresentation: bag.der))
            } catch {
                throw unsupported("an EC key on curve \(name) that cannot be used")
            }
        case .ec(.p384, let name):
            do {
                return .p384(try P384.Signing.PrivateKey(derRepresentation: bag.der))
            } catch {
                throw unsupported("an EC key on curve \(name) that cannot be used")
            }
        case .ec(_, let name):
            throw unsupported("an EC key on curve \(name)")
        case .unsupported(let type):
            throw unsupported("a \(type) key")
        case .none:
            throw unsupported("a key of unknown type")
        }
    }

    // MARK: Leaf and chain

    private mutating func findLeaf(keyIndex: Int, alias: String, publicKey: Certificate.PublicKey) -> Int? {
        if let linked = linkedCertificateIndex(forKey: keyIndex) {
            return linked
        }
        if let named = certIndices.first(where: { index in bags[index].friendlyName.map { Self.same($0, alias) } ?? false }) {
            return named
        }
        for index in certIndices {
            if let candidate = certificate(at: index), candidate.publicKey == publicKey {
                return index
            }
        }
        return nil
    }

    private mutating func buildChain(leaf: Certificate, leafIndex: Int) -> ([Certificate], [Int]) {
        var chain = [leaf]
        var indices = [leafIndex]
        var seenDER: Set<[UInt8]> = [bags[leafIndex].der]
        var current = leaf
        while current.issuer != current.subject {
            var next: (Int, Certificate)?
            for index in certIndices where !seenDER.contains(bags[index].der) {
                if let candidate = certificate(at: index), candidate.subject == current.issuer {
                    next = (index, candidate)
                    break
                }
            }
            guard let (index, issuer) = next else { break }
            chain.append(issuer)
            indices.append(index)
            seenDER.insert(bags[index].der)
            current = issuer
        }
        return (chain, indices)
    }
}
