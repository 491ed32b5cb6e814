/// Names of the settings (environment variables) that configure a keystore. They appear in error
/// messages so that the operator knows which value to fix.
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

    /// The client-assertion keystore of the OIDC client (private_key_jwt).
    public static let clientAssertion = KeystoreSettingNames(
        path: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PATH",
        password: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_PASSWORD",
        alias: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS",
        keyPassword: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_KEYSTORE_KEY_PASSWORD",
        certificate: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_CERTIFICATE",
        privateKey: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_PRIVATE_KEY"
    )

    /// The next client credential (issue 19 item 3): loaded next to the current one during a rollover; token-issuer
    /// signs with the newest certificate the IdP has accepted and falls back to the other on a certificate refusal.
    public static let clientAssertionNext = KeystoreSettingNames(
        path: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_PATH",
        password: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_PASSWORD",
        alias: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_KEY_ALIAS",
        keyPassword: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_KEYSTORE_KEY_PASSWORD",
        certificate: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_CERTIFICATE",
        privateKey: "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_NEXT_PRIVATE_KEY"
    )

    /// The TLS server keystore.
    public static let serverSSL = KeystoreSettingNames(
        path: "SERVER_SSL_KEY_STORE",
        password: "SERVER_SSL_KEY_STORE_PASSWORD",
        alias: "SERVER_SSL_KEY_ALIAS",
        keyPassword: "SERVER_SSL_KEY_PASSWORD",
        certificate: "SERVER_SSL_CERTIFICATE",
        privateKey: "SERVER_SSL_CERTIFICATE_PRIVATE_KEY"
    )
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
