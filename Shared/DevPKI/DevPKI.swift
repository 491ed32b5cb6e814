import Crypto
import Foundation
import Keystore
import SwiftASN1
import X509
import _CryptoExtras

/// A certificate with its private key.
public struct IssuedCertificate: Sendable {
    public var certificate: Certificate
    public var key: _RSA.Signing.PrivateKey

    public init(certificate: Certificate, key: _RSA.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// DER bytes of the certificate.
    public var der: [UInt8] {
        get throws { try certificate.derEncoded() }
    }

    /// PEM text of the certificate.
    public var pem: String {
        get throws { try certificate.serializeAsPEM().pemString + "\n" }
    }

    /// PKCS#8 PEM of the private key (what curl's `--key` and OpenSSL read).
    public var keyPEM: String { key.pkcs8PEMRepresentation + "\n" }
}

/// A development PKI: an internal CA, one certificate per service, a client credential for the IdP, and a curl client.
/// Also used by tests to make their own certificates.
public enum DevPKI {
    /// The services that get a certificate from `certauth pki init`.
    public static let services = ["authn", "token-issuer", "roles", "entra-emulator"]

    /// A self-signed CA certificate.
    public static func makeCA(
        commonName: String = "CertAuth Dev Root CA", organization: String = "CertAuth dev",
        now: Date = Date(), validity: TimeInterval = 3650 * 86_400, keySize: Int = 2048
    ) throws -> IssuedCertificate {
        let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: keySize))
        let name = try DistinguishedName {
            OrganizationName(organization)
            CommonName(commonName)
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: publicKey)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(validity),
            issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: extensions, issuerPrivateKey: .init(key))
        return IssuedCertificate(certificate: certificate, key: key)
    }

    /// What a leaf certificate is for.
    public enum Usage: Sendable {
        case server, client, serverAndClient
        var ekus: [ExtendedKeyUsage.Usage] {
            switch self {
            case .server: [.serverAuth]
            case .client: [.clientAuth]
            case .serverAndClient: [.serverAuth, .clientAuth]
            }
        }
    }

    /// A certificate issued by `issuer` (or self-signed when `issuer` is nil).
    public static func issue(
        subject: DistinguishedName, dnsNames: [String] = [], ipAddresses: [[UInt8]] = [], uris: [String] = [],
        usage: Usage = .serverAndClient, issuer: IssuedCertificate?, isCA: Bool = false,
        notValidBefore: Date? = nil, notValidAfter: Date? = nil, now: Date = Date(), keySize: Int = 2048
    ) throws -> IssuedCertificate {
        let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: keySize))
        let publicKey = Certificate.PublicKey(key.publicKey)
        let signerKey = issuer?.key ?? key
        let signerCertificate = issuer?.certificate
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        names += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        names += uris.map { .uniformResourceIdentifier($0) }
        let extensions = try Certificate.Extensions {
            if isCA {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            } else {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage(usage.ekus)
            }
            SubjectKeyIdentifier(hash: publicKey)
            if let signerCertificate, let ski = try signerCertificate.extensions.subjectKeyIdentifier {
                AuthorityKeyIdentifier(keyIdentifier: ski.keyIdentifier)
            }
            if !names.isEmpty {
                SubjectAlternativeNames(names)
            }
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: notValidBefore ?? now.addingTimeInterval(-300),
            notValidAfter: notValidAfter ?? now.addingTimeInterval(825 * 86_400),
            issuer: signerCertificate?.subject ?? subject, subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption, extensions: extensions, issuerPrivateKey: .init(signerKey))
        return IssuedCertificate(certificate: certificate, key: key)
    }

    /// The SPIFFE trust domain of the dev service identities (`CAMUNDA_SERVICE_TRUST_DOMAIN`'s default).
    public static let defaultTrustDomain = "certauth"

    /// A service certificate: CN and first DNS SAN = the service name, plus localhost and 127.0.0.1, and the service
    /// identity `spiffe://<trustDomain>/<name>` as URI SAN (the marker services recognise each other by, docs/security-model.md).
    public static func issueService(
        _ name: String, ca: IssuedCertificate, trustDomain: String = defaultTrustDomain, usage: Usage = .serverAndClient,
        now: Date = Date()
    ) throws -> IssuedCertificate {
        try issue(
            subject: try DistinguishedName {
                OrganizationName("CertAuth dev")
                CommonName(name)
            },
            dnsNames: [name, "localhost"], ipAddresses: [[127, 0, 0, 1]], uris: ["spiffe://\(trustDomain)/\(name)"],
            usage: usage, issuer: ca, now: now)
    }

    /// An end-user client certificate (`CN=<commonName>, O=CertAuth dev`, clientAuth): no service identity, whatever
    /// its names.
    public static func issueEndUser(
        _ commonName: String, dnsNames: [String] = [], issuer: IssuedCertificate, now: Date = Date()
    ) throws -> IssuedCertificate {
        try issue(
            subject: try DistinguishedName {
                OrganizationName("CertAuth dev")
                CommonName(commonName)
            },
            dnsNames: dnsNames, usage: .client, issuer: issuer, now: now)
    }

    /// The dev workload that asks token-issuer for tokens (`app.crt` / `app.key`): a service identity
    /// (`spiffe://certauth/app`), unlike the end-user certificate `client.crt`, which token-issuer refuses.
    public static let workload = "app"

    /// A PKCS#12 file holding `issued` (and the chain) under `alias`.
    public static func pkcs12(_ issued: IssuedCertificate, alias: String, chain: [IssuedCertificate] = [], password: String) throws -> [UInt8] {
        try PKCS12Writer.write(
            entries: [PKCS12Entry(
                alias: alias, privateKeyDER: Array(issued.key.derRepresentation),
                certificateDER: try issued.der, chainDER: try chain.map { try $0.der })],
            password: password)
    }

    /// What `initialize` wrote.
    public struct Summary: Sendable {
        public var directory: String
        public var files: [String]
        public var identity: Credential
    }

    /// How `certauth pki init` lays out the chains.
    public enum Scheme: String, Sendable, CaseIterable {
        /// Root CA → every certificate (the seed's Option 2: one certificate per component, each matched by its DN).
        case flat
        /// Root CA → shared intermediary → every certificate (the seed's Option 1: a client registered with the
        /// intermediary's DN accepts every component whose chain contains it, at an IdP that matches any
        /// certificate of the chain, as Keycloak does).
        case intermediary
    }

    /// Subject of the shared intermediary of ``Scheme/intermediary`` (the seed's "Zeebe Intermediary Certificate").
    public static let intermediarySubject = "CN=shared-intermediary, OU=Zeebe, O=CertAuth dev"

    /// Writes the whole development PKI into `directory` (`certauth pki init`, README).
    ///
    /// With ``Scheme/intermediary`` every certificate is issued by the shared intermediary; the PKCS#12 files hold
    /// leaf, intermediary and root, `client.crt` holds leaf and intermediary, and the intermediary itself is written
    /// as `intermediary.p12` (alias `intermediary`) and `intermediary.crt`. `truststore.pem` is the root in both schemes.
    public static func initialize(
        directory: String, password: String, now: Date = Date(), scheme: Scheme = .flat,
        trustDomain: String = defaultTrustDomain
    ) throws -> Summary {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var files: [String] = []
        func write(_ name: String, _ bytes: [UInt8], secret: Bool) throws {
            let path = (directory as NSString).appendingPathComponent(name)
            // Keys and keystores are 0600 from their first byte (no write-then-chmod window).
            try SecureFile.write(bytes, to: path, mode: secret ? SecureFile.privateMode : SecureFile.publicMode)
            files.append(name)
        }
        let ca = try makeCA(now: now)
        try write("ca.crt", Array(try ca.pem.utf8), secret: false)
        try write("ca.key", Array(ca.keyPEM.utf8), secret: true)
        try write("truststore.pem", Array(try ca.pem.utf8), secret: false)
        // The issuer of every other certificate, and the chain above it (issuer first).
        var issuer = ca
        var chain = [ca]
        if scheme == .intermediary {
            let intermediary = try issue(
                subject: try DistinguishedName {
                    OrganizationName("CertAuth dev")
                    OrganizationalUnitName("Zeebe")
                    CommonName("shared-intermediary")
                },
                usage: .client, issuer: ca, isCA: true, now: now)
            try write("intermediary.p12", try pkcs12(intermediary, alias: "intermediary", chain: [ca], password: password), secret: true)
            try write("intermediary.crt", Array(try intermediary.pem.utf8), secret: false)
            issuer = intermediary
            chain = [intermediary, ca]
        }
        for service in services {
            let issued = try issueService(service, ca: issuer, trustDomain: trustDomain, now: now)
            try write("\(service).p12", try pkcs12(issued, alias: service, chain: chain, password: password), secret: true)
            try write("\(service).crt", Array(try issued.pem.utf8), secret: false)
        }
        let identity = try issue(
            subject: try DistinguishedName {
                OrganizationName("CertAuth dev")
                CommonName("identity")
            },
            dnsNames: ["identity"], usage: .client, issuer: issuer, now: now)
        let identityP12 = try pkcs12(identity, alias: "identity", chain: chain, password: password)
        try write("identity.p12", identityP12, secret: true)
        try write("identity.cer", Array(try identity.pem.utf8), secret: false)
        let client = try issueEndUser("client", dnsNames: ["client"], issuer: issuer, now: now)
        // curl sends what --cert holds: the leaf, and with the intermediary scheme the intermediary too.
        let clientChainPEM = try ([client] + chain.dropLast()).map { try $0.pem }.joined()
        try write("client.crt", Array(clientChainPEM.utf8), secret: false)
        try write("client.key", Array(client.keyPEM.utf8), secret: true)
        let app = try issueService(workload, ca: issuer, trustDomain: trustDomain, usage: .client, now: now)
        let appChainPEM = try ([app] + chain.dropLast()).map { try $0.pem }.joined()
        try write("\(workload).crt", Array(appChainPEM.utf8), secret: false)
        try write("\(workload).key", Array(app.keyPEM.utf8), secret: true)
        let loaded = try KeystoreLoader.load(
            data: identityP12, path: "identity.p12", password: password, alias: "identity", keyPassword: nil,
            settings: KeystoreSettingNames(path: "identity.p12", password: "the dev PKI password", alias: "identity",
                                           keyPassword: "the dev PKI password"),
            now: now)
        return Summary(directory: directory, files: files, identity: loaded.credential)
    }
}
