/// Names of the settings (environment variables) that configure a keystore. They appear in error
/// messages so that the operator knows which value to fix. The library names none itself: the service kit names the
/// listener's (`SERVER_SSL_*`, `KeystoreSettingNames.serverSSL`), token-issuer its client credential's.
public struct KeystoreSettingNames: Sendable, Hashable {
    public var path: String
    public var password: String
    public var alias: String
    public var keyPassword: String
    /// The PEM alternative to the keystore: the certificate (chain) file and the private key file.
    public var certificate: String
    public var privateKey: String

    public init(path: String, password: String, alias: String, keyPassword: String, certificate: String = "", privateKey: String = "") {
        self.path = path
        self.password = password
        self.alias = alias
        self.keyPassword = keyPassword
        self.certificate = certificate
        self.privateKey = privateKey
    }
}

/// A keystore or truststore problem. `message` is one sentence saying what is wrong and what to do,
/// naming the setting to fix. Messages never contain passwords or key material.
public struct KeystoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case notFound
        case unreadable
        case notPKCS12
        case wrongPassword
        case wrongKeyPassword
        case unknownAlias
        case noPrivateKey
        case keyMismatch
        case expired
        case notYetValid
        case unsupportedKey
        case invalidCertificate
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
