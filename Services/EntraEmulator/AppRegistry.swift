import Crypto
import Foundation
import Keystore
import X509
import SwiftASN1

/// One app registration of the emulated tenant (DESIGN.md §4 `ENTRA_EMULATOR_APPS`).
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
}

/// A certificate uploaded to an app registration.
public struct RegisteredCertificate: Sendable {
    public var certificate: Certificate
    public var x5t: String
    public var x5tS256: String
    public var path: String
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
                enum CodingKeys: String, CodingKey {
                    case clientID = "client_id", name, certificates
                    case clientSecrets = "client_secrets", appRolesGranted = "app_roles_granted", appRoles = "app_roles"
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
                appRoles: app.appRoles ?? [], objectID: stableUUID(app.clientID))
        }
        return AppRegistry(tenantID: file.tenantID, apps: apps)
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
        return RegisteredCertificate(
            certificate: certificate,
            x5t: Base64URL.encode(Array(Insecure.SHA1.hash(data: der))),
            x5tS256: Base64URL.encode(Array(SHA256.hash(data: der))),
            path: path)
    }

    /// A UUID derived from a string, so object ids stay the same across restarts.
    static func stableUUID(_ seed: String) -> String {
        let bytes = Array(SHA256.hash(data: Array("oid:\(seed)".utf8)).prefix(16))
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let chars = Array(hex)
        return "\(String(chars[0..<8]))-\(String(chars[8..<12]))-\(String(chars[12..<16]))-\(String(chars[16..<20]))-\(String(chars[20..<32]))"
    }
}

/// A problem with the app registrations file.
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

