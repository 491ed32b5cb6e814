import CertificateValidation
import Crypto
import Foundation
import JOSE
import Keystore
import WireFormat
import X509
import SwiftASN1

/// One app registration of the emulated tenant (`ENTRA_EMULATOR_APPS`, README "entra-emulator configuration").
public struct AppRegistration: Sendable {
    public var clientID: String
    public var name: String
    /// Registered certificates by their SHA-256 and SHA-1 thumbprints (base64url).
    public var certificates: [RegisteredCertificate]
    public var clientSecrets: [String]
    /// Roles granted to this app on resource apps: resource client id → role values.
    public var appRolesGranted: [String: [String]]
    /// Roles this app defines as a resource.
    public var appRoles: [String]
    /// Service principal object id (stable per client id).
    public var objectID: String
    /// RFC 8705 `tls_client_auth` (Keycloak's "X.509 Certificate" client authenticator); nil: assertion or secret.
    public var tlsClientAuth: TLSClientAuthPolicy? = nil
    /// Issue certificate-bound access tokens (`cnf.x5t#S256` of the presented client certificate, RFC 8705 §3).
    public var certificateBoundTokens: Bool = false
    /// Federated identity credentials: external issuers whose tokens this app may present as client assertions.
    public var federatedCredentials: [FederatedCredential] = []
    /// The application object's id (Graph `id`, "Object ID" in the admin center; `object_id` in the file, else derived
    /// from the client id): the `iss` Graph expects in addKey/removeKey proofs.
    public var applicationObjectID: String = ""
}

/// A federated identity credential of an app registration (Graph `federatedIdentityCredential`): tokens from
/// `issuer` with subject `subject` and one of `audiences` are accepted as the app's client assertion.
public struct FederatedCredential: Sendable, Equatable {
    public var name: String
    public var issuer: String
    public var subject: String
    public var audiences: [String]

    public init(name: String, issuer: String, subject: String, audiences: [String] = [FederatedCredential.defaultAudience]) {
        self.name = name
        self.issuer = issuer
        self.subject = subject
        self.audiences = audiences
    }

    /// The audience Entra recommends for federated credentials.
    public static let defaultAudience = "api://AzureADTokenExchange"
    /// Graph's limit of federated identity credentials per application.
    public static let maximumPerApplication = 20
}

/// How an app registration that uses `tls_client_auth` matches the presented certificate's subject DN.
public struct TLSClientAuthPolicy: Sendable {
    /// `exact`: attribute by attribute (names case-insensitive, spaces after commas ignored); `regex`: a full match of
    /// the RFC 4514 subject (Keycloak's "Allow Regex Pattern Comparison").
    public enum DNMatch: String, Sendable { case exact, regex }
    /// `leaf` (default): only the client's own certificate; `any`: any certificate of the verified chain below the
    /// trust anchor (Keycloak's behaviour, which makes a shared intermediary work).
    public enum ChainMatch: String, Sendable { case leaf, any }

    public var subjectDN: String
    public var dnMatch: DNMatch
    public var chainMatch: ChainMatch

    public init(subjectDN: String, dnMatch: DNMatch = .exact, chainMatch: ChainMatch = .leaf) {
        self.subjectDN = subjectDN
        self.dnMatch = dnMatch
        self.chainMatch = chainMatch
    }

    /// Whether `subject` (RFC 4514, `", "` separated, as ``DistinguishedNameFormat`` writes it) matches.
    public func matches(subject: String) -> Bool {
        switch dnMatch {
        case .exact:
            return Self.normalized(subject) == Self.normalized(subjectDN)
        case .regex:
            guard let regex = try? Regex(subjectDN) else { return false }
            return (try? regex.wholeMatch(in: subject)) != nil
        }
    }

    /// The RDNs of an RFC 4514 string with attribute names upper-cased (E, EMAIL and emailAddress as EMAILADDRESS)
    /// and unescaped spaces around separators removed.
    static func normalized(_ dn: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for character in dn {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                current.append(character)
                escaped = true
            } else if character == "," || character == ";" {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts.map { part in
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard let equals = trimmed.firstIndex(of: "=") else { return trimmed }
            var key = trimmed[..<equals].trimmingCharacters(in: .whitespaces).uppercased()
            if ["E", "EMAIL", "EMAILADDRESS", "1.2.840.113549.1.9.1"].contains(key) { key = "EMAILADDRESS" }
            if key == "S" { key = "ST" }
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            return "\(key)=\(value)"
        }
    }
}

/// A certificate uploaded to an app registration.
public struct RegisteredCertificate: Sendable {
    public var certificate: Certificate
    public var x5t: String
    public var x5tS256: String
    public var path: String
    /// Graph's `keyId` of this key credential (derived from the thumbprint for certificates from the file).
    public var keyID: String = ""
    /// Graph's `displayName`.
    public var displayName: String = ""

    /// A certificate as Graph addKey registers it (`path` is empty).
    public static func added(_ certificate: Certificate, der: [UInt8], displayName: String?) -> RegisteredCertificate {
        let x5tS256 = Base64URL.encode(Thumbprint.sha256(der: der))
        return RegisteredCertificate(
            certificate: certificate, x5t: Base64URL.encode(Thumbprint.sha1(der: der)), x5tS256: x5tS256, path: "",
            keyID: UUID().uuidString.lowercased(), displayName: displayName ?? DistinguishedNameFormat.commonName(certificate.subject).map { "CN=\($0)" } ?? "certificate")
    }

    /// Graph's `customKeyIdentifier` of a certificate: its SHA-1 thumbprint (Edm.Binary, base64 in JSON).
    public var customKeyIdentifier: String {
        Data(Base64URL.decode(x5t) ?? []).base64EncodedString()
    }
}

extension AppRegistration {
    /// The registered certificate a JWS header names, the way Entra and Graph find it: by `x5t#S256` or `x5t`, in
    /// base64url or (as MSAL sends them) standard base64 with padding; with `kidAsSHA1Hex` (Graph's proof of
    /// possession) also by a `kid` holding the SHA-1 thumbprint in hex, as .NET's X509SigningCredentials writes it.
    func certificate(namedBy header: JOSEHeader, kidAsSHA1Hex: Bool = false) -> RegisteredCertificate? {
        let sha256 = header.x5tS256.flatMap(JOSEHeader.thumbprintBytes).map { Base64URL.encode($0) }
        let sha1 = header.x5t.flatMap(JOSEHeader.thumbprintBytes).map { Base64URL.encode($0) }
        let kidSHA1 = kidAsSHA1Hex ? header.kid.flatMap { $0.utf8.count == 40 ? Hex.decode($0) : nil }.map { Base64URL.encode($0) } : nil
        return certificates.first { $0.x5tS256 == sha256 || $0.x5t == sha1 || $0.x5t == kidSHA1 }
    }
}

/// The emulated tenant: id and app registrations.
public struct AppRegistry: Sendable {
    public var tenantID: String
    public var apps: [String: AppRegistration]

    /// Reads the registrations file; certificate paths are relative to the file. Errors name the file and the field.
    public static func load(path: String) throws(RegistryError) -> AppRegistry {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RegistryError("App registrations file not found: \(path); set ENTRA_EMULATOR_APPS to a JSON file such as the one `make run` writes to compose/pki/apps.json.")
        }
        struct File: Decodable {
            struct App: Decodable {
                var clientID: String
                var name: String?
                var certificates: [String]?
                var clientSecrets: [String]?
                var appRolesGranted: [String: [String]]?
                var appRoles: [String]?
                var tokenEndpointAuthMethod: String?
                var tlsClientAuthSubjectDN: String?
                var tlsClientAuthDNMatch: String?
                var tlsClientAuthChainMatch: String?
                var certificateBoundTokens: Bool?
                var federatedCredentials: [FederatedCredentialEntry]?
                var objectID: String?
                enum CodingKeys: String, CodingKey {
                    case objectID = "object_id"
                    case federatedCredentials = "federated_credentials"
                    case clientID = "client_id", name, certificates
                    case clientSecrets = "client_secrets", appRolesGranted = "app_roles_granted", appRoles = "app_roles"
                    case tokenEndpointAuthMethod = "token_endpoint_auth_method"
                    case tlsClientAuthSubjectDN = "tls_client_auth_subject_dn", tlsClientAuthDNMatch = "tls_client_auth_dn_match"
                    case tlsClientAuthChainMatch = "tls_client_auth_chain_match", certificateBoundTokens = "certificate_bound_tokens"
                }
            }
            var tenantID: String
            var apps: [App]
            enum CodingKeys: String, CodingKey { case tenantID = "tenant_id", apps }
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw RegistryError("App registrations file \(path) is not valid: \(error); expected {\"tenant_id\": \"…\", \"apps\": [{\"client_id\": \"…\", \"certificates\": [\"pki/identity.cer\"]}]}.")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var apps: [String: AppRegistration] = [:]
        for app in file.apps {
            var certificates: [RegisteredCertificate] = []
            for relative in app.certificates ?? [] {
                let certificatePath = relative.hasPrefix("/") ? relative : directory.appendingPathComponent(relative).path
                certificates.append(try loadCertificate(path: certificatePath, clientID: app.clientID))
            }
            apps[app.clientID.lowercased()] = AppRegistration(
                clientID: app.clientID, name: app.name ?? app.clientID, certificates: certificates,
                clientSecrets: app.clientSecrets ?? [], appRolesGranted: app.appRolesGranted ?? [:],
                appRoles: app.appRoles ?? [], objectID: stableUUID(app.clientID),
                tlsClientAuth: try tlsPolicy(app.tokenEndpointAuthMethod, dn: app.tlsClientAuthSubjectDN, match: app.tlsClientAuthDNMatch,
                                             chain: app.tlsClientAuthChainMatch, clientID: app.clientID, path: path),
                certificateBoundTokens: app.certificateBoundTokens ?? false,
                federatedCredentials: try federated(app.federatedCredentials ?? [], clientID: app.clientID, path: path),
                applicationObjectID: try applicationObjectID(app.objectID, clientID: app.clientID, path: path))
        }
        return AppRegistry(tenantID: file.tenantID, apps: apps)
    }

    /// Graph's checks of federated identity credentials: name, issuer (an https URL) and subject required, names unique,
    /// at most 20 per application, the issuer and subject pair unique.
    static func federated(_ entries: [FederatedCredentialEntry], clientID: String, path: String) throws(RegistryError) -> [FederatedCredential] {
        guard entries.count <= FederatedCredential.maximumPerApplication else {
            throw RegistryError("App \(clientID) in \(path) has \(entries.count) federated_credentials; an application holds at most \(FederatedCredential.maximumPerApplication) (Microsoft Graph's limit).")
        }
        var result: [FederatedCredential] = []
        for (index, entry) in entries.enumerated() {
            let label = "federated_credentials[\(index)] of app \(clientID) in \(path)"
            guard let name = entry.name, !name.isEmpty, name.count <= 120 else {
                throw RegistryError("\(label): 'name' is required (1 to 120 characters), e.g. \"kubernetes-token-issuer\".")
            }
            guard let issuer = entry.issuer, let url = URL(string: issuer), let scheme = url.scheme?.lowercased(), url.host != nil,
                  scheme == "https" || (scheme == "http" && ["localhost", "127.0.0.1", "::1"].contains(url.host ?? ""))
            else {
                throw RegistryError("\(label): 'issuer' must be the https URL of the external issuer (its /.well-known/openid-configuration names the JWKS), e.g. the cluster's service account issuer https://oidc.prod-aks.azure.com/<id>/.")
            }
            guard let subject = entry.subject, !subject.isEmpty else {
                throw RegistryError("\(label): 'subject' is required, e.g. \"system:serviceaccount:<namespace>:<service account>\".")
            }
            let audiences = entry.audiences ?? [FederatedCredential.defaultAudience]
            guard !audiences.isEmpty, audiences.allSatisfy({ !$0.isEmpty && $0.count <= 600 }) else {
                throw RegistryError("\(label): 'audiences' must hold at least one audience (default \(FederatedCredential.defaultAudience)).")
            }
            if result.contains(where: { $0.name == name }) {
                throw RegistryError("\(label): the name '\(name)' is used twice; names of federated credentials are unique per application.")
            }
            if result.contains(where: { $0.issuer == issuer && $0.subject == subject }) {
                throw RegistryError("\(label): another federated credential already has issuer '\(issuer)' and subject '\(subject)'; the pair is unique per application.")
            }
            result.append(FederatedCredential(name: name, issuer: issuer, subject: subject, audiences: audiences))
        }
        return result
    }

    /// `object_id`, a GUID; default: a stable one derived from the client id (not the service principal's `oid`).
    static func applicationObjectID(_ value: String?, clientID: String, path: String) throws(RegistryError) -> String {
        guard let value else { return stableUUID("application:\(clientID)") }
        guard UUID(uuidString: value) != nil else {
            throw RegistryError("App \(clientID) in \(path): object_id '\(value.prefix(80))' is not a GUID; expected the application object's id, e.g. 8f3c3a52-4b4e-4e53-9f0c-3f3b0d7e6a11 (or leave it out).")
        }
        return value.lowercased()
    }

    static func tlsPolicy(
        _ method: String?, dn: String?, match: String?, chain: String?, clientID: String, path: String
    ) throws(RegistryError) -> TLSClientAuthPolicy? {
        let known = ["private_key_jwt", "client_secret_basic", "client_secret_post", "tls_client_auth"]
        if let method, !known.contains(method) {
            throw RegistryError("App \(clientID) in \(path): token_endpoint_auth_method '\(method)' is not supported; expected one of \(known.joined(separator: ", ")).")
        }
        guard method == "tls_client_auth" else {
            if dn != nil {
                throw RegistryError("App \(clientID) in \(path): tls_client_auth_subject_dn is set but token_endpoint_auth_method is not \"tls_client_auth\"; set it, or remove the subject DN.")
            }
            return nil
        }
        guard let dn, !dn.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw RegistryError("App \(clientID) in \(path): token_endpoint_auth_method \"tls_client_auth\" needs tls_client_auth_subject_dn, e.g. \"CN=identity, O=CertAuth dev\".")
        }
        guard let dnMatch = TLSClientAuthPolicy.DNMatch(rawValue: match ?? "exact") else {
            throw RegistryError("App \(clientID) in \(path): tls_client_auth_dn_match '\(match ?? "")' is not supported; expected \"exact\" or \"regex\".")
        }
        guard let chainMatch = TLSClientAuthPolicy.ChainMatch(rawValue: chain ?? "leaf") else {
            throw RegistryError("App \(clientID) in \(path): tls_client_auth_chain_match '\(chain ?? "")' is not supported; expected \"leaf\" or \"any\".")
        }
        if dnMatch == .regex {
            do {
                _ = try Regex(dn)
            } catch {
                throw RegistryError("App \(clientID) in \(path): tls_client_auth_subject_dn is not a valid regular expression (\(error)); e.g. \"CN=(.*?), O=CertAuth dev\".")
            }
        }
        return TLSClientAuthPolicy(subjectDN: dn, dnMatch: dnMatch, chainMatch: chainMatch)
    }

    static func loadCertificate(path: String, clientID: String) throws(RegistryError) -> RegisteredCertificate {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RegistryError("Certificate \(path) of app \(clientID) not found; the paths in ENTRA_EMULATOR_APPS are relative to that file.")
        }
        var der = Array(data)
        if let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") {
            guard let pem = try? PEMDocument(pemString: text) else {
                throw RegistryError("Certificate \(path) of app \(clientID) is not a readable PEM certificate.")
            }
            der = pem.derBytes
        }
        guard let certificate = try? Certificate(derEncoded: der) else {
            throw RegistryError("Certificate \(path) of app \(clientID) is not an X.509 certificate (DER or PEM).")
        }
        let x5tS256 = Base64URL.encode(Thumbprint.sha256(der: der))
        return RegisteredCertificate(
            certificate: certificate,
            x5t: Base64URL.encode(Thumbprint.sha1(der: der)),
            x5tS256: x5tS256,
            path: path, keyID: stableUUID("key:\(x5tS256)"),
            displayName: DistinguishedNameFormat.commonName(certificate.subject).map { "CN=\($0)" } ?? URL(fileURLWithPath: path).lastPathComponent)
    }

    /// A UUID derived from a string, so object ids stay the same across restarts.
    static func stableUUID(_ seed: String) -> String {
        let bytes = Array(SHA256.hash(data: Array("oid:\(seed)".utf8)).prefix(16))
        let hex = Hex.encode(bytes)
        let chars = Array(hex)
        return "\(String(chars[0..<8]))-\(String(chars[8..<12]))-\(String(chars[12..<16]))-\(String(chars[16..<20]))-\(String(chars[20..<32]))"
    }
}

/// One `federated_credentials` entry as the registrations file holds it.
struct FederatedCredentialEntry: Decodable {
    var name: String?
    var issuer: String?
    var subject: String?
    var audiences: [String]?
}

/// A problem with the app registrations file.
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

