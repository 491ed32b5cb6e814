import Foundation
import Keystore
import Logging
import NIOSSL
import Settings
import X509

/// How a listener asks for client certificates (`SERVER_SSL_CLIENT_AUTH`).
public enum ClientAuthMode: String, Sendable {
    /// No client certificate is asked for.
    case none
    /// A client certificate is asked for; when presented it must chain to the trust store.
    case want
    /// A client certificate is required and must chain to the trust store.
    case need
}

/// Where a keystore is and how to open it: a PKCS#12 file, a directory in the Kubernetes TLS secret layout
/// (`tls.crt`, `tls.key`), or (with `privateKeyPath`) a PEM certificate (chain) file in `path` and its key file.
public struct KeystoreSource: Sendable {
    public var path: String
    public var password: String
    public var alias: String?
    public var keyPassword: String?
    public var settings: KeystoreSettingNames
    /// The PEM private key file; `path` is then the PEM certificate (chain) file.
    public var privateKeyPath: String?
    /// The `role` label of the certificate's expiry metric (``CertificateMetrics``): `server` for a listener's own,
    /// `client_credential` for token-issuer's identity, `client_credential_next` for the next one during a rollover.
    public var certificateRole: String

    public init(path: String, password: String, alias: String?, keyPassword: String?, settings: KeystoreSettingNames,
                privateKeyPath: String? = nil, certificateRole: String = "client_credential") {
        self.path = path
        self.password = password
        self.alias = alias
        self.keyPassword = keyPassword
        self.settings = settings
        self.privateKeyPath = privateKeyPath
        self.certificateRole = certificateRole
    }

    /// A PEM certificate (chain) file and its private key file.
    public static func pem(certificate: String, privateKey: String, settings: KeystoreSettingNames,
                           certificateRole: String = "client_credential") -> KeystoreSource {
        KeystoreSource(path: certificate, password: "", alias: nil, keyPassword: nil, settings: settings, privateKeyPath: privateKey,
                       certificateRole: certificateRole)
    }

    /// Opens the keystore (or PEM files) and selects the entry.
    public func load(now: Date = Date()) throws(KeystoreError) -> LoadedKeystore {
        let loaded: LoadedKeystore
        if let privateKeyPath {
            loaded = try PEMCredentialLoader.load(certificatePath: path, privateKeyPath: privateKeyPath, settings: settings, now: now)
        } else {
            loaded = try KeystoreLoader.load(path: path, password: password, alias: alias, keyPassword: keyPassword, settings: settings, now: now)
        }
        CertificateMetrics.recordExpiration(role: certificateRole, certificate: loaded.credential.certificate)
        return loaded
    }

    /// SHA-256 over the content of the credential's files, to notice a new certificate; nil when one is unreadable.
    public func contentDigest() -> [UInt8]? {
        PEMCredentialLoader.contentDigest(path: path, privateKeyPath: privateKeyPath)
    }

    /// The files of the credential (for messages).
    public var files: [String] { PEMCredentialLoader.files(path: path, privateKeyPath: privateKeyPath) }
}

/// Where a trust store is and how to open it.
public struct TrustStoreSource: Sendable {
    public var path: String
    public var password: String?
    public var type: String?
    /// The variable that names the path, for messages.
    public var setting: String

    public init(path: String, password: String?, type: String?, setting: String) {
        self.path = path
        self.password = password
        self.type = type
        self.setting = setting
    }
}

extension TrustStoreSource {
    /// Reads the certificates (PEM bundle or PKCS#12).
    public func load() throws(KeystoreError) -> [Certificate] {
        let certificates = try TrustStoreLoader.load(path: path, password: password, type: type, setting: setting)
        for certificate in certificates { CertificateMetrics.recordExpiration(role: "trusted_ca", certificate: certificate) }
        return certificates
    }
}

/// A service's HTTPS listener and management port, from the Spring Boot style variables of the seed's mTLS block.
public struct ListenerSettings: Sendable {
    public var address: String
    public var port: Int
    public var managementPort: Int
    public var sslEnabled: Bool
    public var keystore: KeystoreSource?
    public var clientAuth: ClientAuthMode
    public var trustStore: TrustStoreSource?
    /// `SERVER_HANDLERS_ON_EVENT_LOOP`: requests handled on their connection's event loop (the default, fastest), or on
    /// Swift's global executor with the event loops left to I/O (see `EventLoopBoundChildChannel`).
    public var handlersOnEventLoop: Bool = true
    /// `CAMUNDA_SERVICE_TRUST_DOMAIN`: the SPIFFE trust domain of the suite's service identities
    /// (`spiffe://<trust domain>/<service>` in each service certificate; ``ServiceIdentity``).
    public var serviceTrustDomain: String = ServiceIdentity.defaultTrustDomain
    /// `SERVER_TLS_HANDSHAKE_TIMEOUT` (seconds, default 10): a connection that has not finished its TLS handshake by
    /// then is closed (a client that opens connections and sends nothing does not hold them).
    public var handshakeTimeout: Int = 10
    /// `SERVER_REQUEST_READ_TIMEOUT` (seconds, default 30): an HTTP/2 request not read whole (headers and body) by then
    /// is answered 408 and reset (slowloris).
    public var requestReadTimeout: Int = 30
    /// `SERVER_IDLE_TIMEOUT` (seconds, default 300): a connection with no request in flight for this long is closed
    /// (HTTP/2: with GOAWAY).
    public var idleTimeout: Int = 300
    /// `SERVER_SSL_RELOAD_INTERVAL` (seconds, default 30; 0: never): how often the listener's keystore and trust store
    /// files (and a service's extra trust files) are compared by content and, when changed, loaded for new connections
    /// (``ServerTLSContext``).
    public var tlsReloadInterval: Int = 30

    public init(address: String = "127.0.0.1", port: Int, managementPort: Int, sslEnabled: Bool = true,
                keystore: KeystoreSource?, clientAuth: ClientAuthMode, trustStore: TrustStoreSource?) {
        self.address = address
        self.port = port
        self.managementPort = managementPort
        self.sslEnabled = sslEnabled
        self.keystore = keystore
        self.clientAuth = clientAuth
        self.trustStore = trustStore
    }

    /// ## Configuration keys
    /// - `SERVER_ADDRESS` (default 127.0.0.1), `SERVER_PORT`, `MANAGEMENT_SERVER_PORT` (0: a free port, reported in
    ///   the log and in `SERVER_PORTS_REPORT`)
    /// - `SERVER_TLS_HANDSHAKE_TIMEOUT`, `SERVER_REQUEST_READ_TIMEOUT`, `SERVER_IDLE_TIMEOUT` (seconds)
    /// - `SERVER_SSL_ENABLED` (default true), `SERVER_SSL_KEY_STORE`, `SERVER_SSL_KEY_STORE_PASSWORD` (secret),
    ///   `SERVER_SSL_KEY_STORE_TYPE` (PKCS12), `SERVER_SSL_KEY_ALIAS`, `SERVER_SSL_KEY_PASSWORD` (secret)
    /// - `SERVER_SSL_CLIENT_AUTH` (`none` | `want` | `need`), `SERVER_SSL_TRUST_STORE`, `SERVER_SSL_TRUST_STORE_PASSWORD` (secret),
    ///   `SERVER_SSL_TRUST_STORE_TYPE` (PEM | PKCS12)
    public init(environment env: EnvironmentReader, defaultPort: Int, defaultManagementPort: Int,
                defaultClientAuth: ClientAuthMode) throws(ConfigurationError) {
        let address = env.string("SERVER_ADDRESS") ?? "127.0.0.1"
        let port = try env.port("SERVER_PORT", default: defaultPort)
        let managementPort = try env.port("MANAGEMENT_SERVER_PORT", default: defaultManagementPort)
        let sslEnabled = try env.bool("SERVER_SSL_ENABLED", default: true)
        let clientAuthRaw = try env.choice(
            "SERVER_SSL_CLIENT_AUTH", default: defaultClientAuth.rawValue, allowed: ["none", "want", "need"])
        let clientAuth = ClientAuthMode(rawValue: clientAuthRaw) ?? defaultClientAuth
        var keystore: KeystoreSource?
        var trustStore: TrustStoreSource?
        if sslEnabled {
            _ = try env.choice("SERVER_SSL_KEY_STORE_TYPE", default: "PKCS12", allowed: ["PKCS12"])
            keystore = try KeystoreSource(
                environment: env, settings: .serverSSL,
                expected: "the path of this service's PKCS#12 keystore (certauth pki init writes one per service), a directory with tls.crt and tls.key, or SERVER_SSL_CERTIFICATE and SERVER_SSL_CERTIFICATE_PRIVATE_KEY (PEM)",
                certificateRole: "server")
            if let trustPath = env.string("SERVER_SSL_TRUST_STORE") {
                let type = try env.choice("SERVER_SSL_TRUST_STORE_TYPE", default: "", allowed: ["", "PEM", "PKCS12"])
                trustStore = TrustStoreSource(
                    path: trustPath, password: env.secret("SERVER_SSL_TRUST_STORE_PASSWORD"),
                    type: type.isEmpty ? nil : type, setting: "SERVER_SSL_TRUST_STORE")
            } else if let trustPath = env.string("SERVER_SSL_TRUST_CERTIFICATE") {
                trustStore = TrustStoreSource(path: trustPath, password: nil, type: "PEM", setting: "SERVER_SSL_TRUST_CERTIFICATE")
            } else if let keystore, keystore.privateKeyPath == nil, let ca = PEMCredentialLoader.caFile(inDirectory: keystore.path) {
                trustStore = TrustStoreSource(path: ca, password: nil, type: "PEM", setting: "SERVER_SSL_KEY_STORE")
            } else if clientAuth != .none {
                throw ConfigurationError(
                    variable: "SERVER_SSL_TRUST_STORE",
                    message: "is not set (nor SERVER_SSL_TRUST_CERTIFICATE) but SERVER_SSL_CLIENT_AUTH=\(clientAuth.rawValue) needs it; expected the CA certificates that client certificates must chain to (PEM bundle or PKCS#12), e.g. compose/pki/truststore.pem.")
            }
        } else if clientAuth != .none, env.string("SERVER_SSL_CLIENT_AUTH") != nil {
            throw ConfigurationError(
                variable: "SERVER_SSL_CLIENT_AUTH",
                message: "is \(clientAuth.rawValue) but SERVER_SSL_ENABLED=false; client certificates need TLS. Enable TLS or set SERVER_SSL_CLIENT_AUTH=none.")
        }
        self.init(address: address, port: port, managementPort: managementPort, sslEnabled: sslEnabled,
                  keystore: keystore, clientAuth: sslEnabled ? clientAuth : .none, trustStore: trustStore)
        self.handlersOnEventLoop = try env.bool("SERVER_HANDLERS_ON_EVENT_LOOP", default: true)
        if let trustDomain = env.string(Self.serviceTrustDomainVariable) {
            guard ServiceIdentity.isValidTrustDomain(trustDomain) else {
                throw ConfigurationError(
                    variable: Self.serviceTrustDomainVariable,
                    message: "is '\(trustDomain)', which is not a SPIFFE trust domain; expected lower-case letters, digits, '.', '-' or '_', e.g. certauth or prod.example.com.")
            }
            self.serviceTrustDomain = trustDomain
        }
        self.handshakeTimeout = try env.int("SERVER_TLS_HANDSHAKE_TIMEOUT", default: 10, range: 1...3600)
        self.requestReadTimeout = try env.int("SERVER_REQUEST_READ_TIMEOUT", default: 30, range: 1...3600)
        self.idleTimeout = try env.int("SERVER_IDLE_TIMEOUT", default: 300, range: 1...86_400)
        self.tlsReloadInterval = try env.int("SERVER_SSL_RELOAD_INTERVAL", default: 30, range: 0...86_400)
    }

    /// The files whose content makes the listener's TLS material: the keystore (or PEM pair, or the `tls.crt`/`tls.key`
    /// of a keystore directory) and the trust store.
    public var tlsFiles: [String] {
        (keystore?.files ?? []) + (trustStore.map { PEMCredentialLoader.files(path: $0.path) } ?? [])
    }

    /// The listener's TLS material reloaded from its files (``tlsFiles`` plus `extraFiles`), built by `make` (default:
    /// ``tlsConfiguration()``), with its poller; the poller is nil when `SERVER_SSL_RELOAD_INTERVAL` is 0.
    public func reloadableTLS(
        name: String, health: HealthRegistry, logger: Logger, extraFiles: [String] = [],
        make: (@Sendable () throws -> TLSConfiguration)? = nil
    ) throws -> (context: ServerTLSContext, reloader: ServerTLSReloader?) {
        let settings = self
        let context = try ServerTLSContext(
            listener: name, files: tlsFiles + extraFiles, health: health, logger: logger,
            make: make ?? { try settings.tlsConfiguration() })
        let reloader = tlsReloadInterval > 0 ? ServerTLSReloader(context: context, interval: .seconds(tlsReloadInterval)) : nil
        return (context, reloader)
    }

    public static let serviceTrustDomainVariable = "CAMUNDA_SERVICE_TRUST_DOMAIN"
}

extension ListenerSettings {
    /// For a service that decides on its callers' certificates (token-issuer, roles): TLS on and a client certificate
    /// asked for, else the error names the variable to change and `why` the service needs it.
    public func requireClientCertificates(because why: String) throws(ConfigurationError) {
        guard sslEnabled, clientAuth != .none else {
            throw ConfigurationError(
                variable: sslEnabled ? "SERVER_SSL_CLIENT_AUTH" : "SERVER_SSL_ENABLED",
                message: "\(why); keep SERVER_SSL_ENABLED=true and SERVER_SSL_CLIENT_AUTH=need (or want).")
        }
    }
}

extension ListenerSettings {
    /// Opens the listener's keystore and trust store and returns its TLS configuration.
    /// Throws the keystore's or trust store's one-line error.
    public func tlsConfiguration() throws -> TLSConfiguration {
        guard let keystore else {
            throw ConfigurationError(variable: "SERVER_SSL_KEY_STORE", message: "is not set; expected this service's PKCS#12 keystore (certauth pki init writes one per service).")
        }
        let credential = try keystore.load().credential
        let trustRoots = try trustStore?.load() ?? []
        return try ServerTLS.configuration(credential: credential, clientAuth: clientAuth, trustRoots: trustRoots)
    }
}

extension KeystoreSource {
    /// A credential from the environment: the PEM pair `settings.certificate` + `settings.privateKey` when set,
    /// else `settings.path` (a PKCS#12 file or a directory with `tls.crt` and `tls.key`) with its password and alias.
    /// - Parameter expected: what to set when neither is; nil makes both optional (returns nil then).
    public init?(environment env: EnvironmentReader, settings: KeystoreSettingNames, expected: String?,
                 certificateRole: String = "client_credential") throws(ConfigurationError) {
        let certificate = settings.certificate.isEmpty ? nil : env.string(settings.certificate)
        let key = settings.privateKey.isEmpty ? nil : env.string(settings.privateKey)
        switch (certificate, key) {
        case (let certificate?, let key?):
            if env.string(settings.path) != nil {
                throw ConfigurationError(
                    variable: settings.path,
                    message: "is set together with \(settings.certificate) and \(settings.privateKey); expected either a keystore (PKCS#12 file or tls.crt/tls.key directory) or the PEM pair, not both.")
            }
            self = .pem(certificate: certificate, privateKey: key, settings: settings, certificateRole: certificateRole)
            return
        case (_?, nil):
            throw ConfigurationError(variable: settings.privateKey, message: "is not set but \(settings.certificate) is; expected the PEM private key file of that certificate (tls.key).")
        case (nil, _?):
            throw ConfigurationError(variable: settings.certificate, message: "is not set but \(settings.privateKey) is; expected the PEM certificate (chain) file of that key (tls.crt).")
        case (nil, nil):
            break
        }
        let path: String
        if let expected {
            path = try env.required(settings.path, expected: expected)
        } else if let value = env.string(settings.path) {
            path = value
        } else {
            return nil
        }
        self.init(
            path: path, password: env.secret(settings.password) ?? "", alias: env.string(settings.alias),
            keyPassword: env.secret(settings.keyPassword), settings: settings, certificateRole: certificateRole)
    }
}

extension KeystoreSettingNames {
    /// The listener's keystore: the `SERVER_SSL_*` names every service shares (the service kit's settings table).
    public static let serverSSL = KeystoreSettingNames(
        path: "SERVER_SSL_KEY_STORE",
        password: "SERVER_SSL_KEY_STORE_PASSWORD",
        alias: "SERVER_SSL_KEY_ALIAS",
        keyPassword: "SERVER_SSL_KEY_PASSWORD",
        certificate: "SERVER_SSL_CERTIFICATE",
        privateKey: "SERVER_SSL_CERTIFICATE_PRIVATE_KEY"
    )
}
