import ArgumentParser
import AuthProtocol
import Crypto
import DevPKI
import Foundation
import Keystore
import ServiceSupport
import SwiftASN1
import WireFormat
import X509

/// `certauth`: the operator CLI (README).
@main
struct CertAuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certauth",
        abstract: "Operator tools for the CertAuth suite: dev PKI, thumbprints, token decoding.",
        subcommands: [PKI.self, Thumbprint.self, DecodeToken.self, VerifyChain.self, Health.self, CheckConfig.self])
}

struct PKI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki", abstract: "Development PKI.", subcommands: [Init.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an internal CA, one certificate + PKCS#12 per service, identity.p12/identity.cer, truststore.pem, client.crt/client.key (an end user) and app.crt/app.key (a workload that may ask token-issuer for tokens). Service certificates carry the identity spiffe://<trust domain>/<service>.")

        @Option(name: .long, help: "Directory to write into (created when missing).")
        var out: String

        @Option(name: .long, help: "Password of the PKCS#12 files (default: $CERTAUTH_PKI_PASSWORD, else 'changeit').")
        var password: String?

        @Flag(name: .long, help: "Overwrite an existing PKI in --out.")
        var force = false

        @Option(name: .long, help: ArgumentHelp(
            "Chain layout: 'flat' (root CA signs every certificate) or 'intermediary' (root CA → shared intermediary → every certificate; the seed's Option 1).",
            valueName: "flat|intermediary"))
        var scheme: String = DevPKI.Scheme.flat.rawValue

        @Option(name: .long, help: ArgumentHelp(
            "SPIFFE trust domain of the service identities (spiffe://<trust domain>/<service>); services read it from CAMUNDA_SERVICE_TRUST_DOMAIN.",
            valueName: "name"))
        var trustDomain: String = DevPKI.defaultTrustDomain

        func run() async throws {
            let password = password ?? ProcessInfo.processInfo.environment["CERTAUTH_PKI_PASSWORD"] ?? "changeit"
            let marker = (out as NSString).appendingPathComponent("ca.crt")
            if FileManager.default.fileExists(atPath: marker), !force {
                throw ValidationError("\(out) already holds a PKI (ca.crt exists); pass --force to replace it, or choose another --out.")
            }
            guard let layout = DevPKI.Scheme(rawValue: scheme.lowercased()) else {
                throw ValidationError("--scheme '\(scheme)' is not supported; expected flat or intermediary.")
            }
            guard ServiceIdentity.isValidTrustDomain(trustDomain) else {
                throw ValidationError("--trust-domain '\(trustDomain)' is not a SPIFFE trust domain; use lower-case letters, digits, '.', '-' or '_'.")
            }
            let summary = try DevPKI.initialize(directory: out, password: password, scheme: layout, trustDomain: trustDomain)
            print("Wrote \(summary.files.count) files to \(summary.directory):")
            for file in summary.files { print("  \(file)") }
            print("")
            print("Client credential to register at the IdP: \((out as NSString).appendingPathComponent("identity.cer"))")
            print("  alias    identity")
            print("  subject  \(summary.identity.subject)")
            print("  x5t      \(summary.identity.x5t)  (SHA-1 hex \(Hex.encode(summary.identity.sha1Thumbprint, uppercase: true)), as the Azure portal shows it)")
            print("  x5t#S256 \(summary.identity.x5tS256)")
            if layout == .intermediary {
                print("")
                print("Scheme intermediary: root CA (ca.crt) → shared intermediary (intermediary.crt, intermediary.p12) → every other certificate.")
                print("  An IdP client registered with subject DN '\(DevPKI.intermediarySubject)' and matching any certificate")
                print("  of the chain (Keycloak's X.509 authenticator) accepts every component certificate issued here.")
            }
        }
    }
}

struct Thumbprint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a certificate's x5t (SHA-1) and x5t#S256 thumbprints, base64url and hex.",
        discussion: "FILE is a PEM or DER certificate, or a PKCS#12 keystore (with --password and, for several entries, --alias).")

    @Argument(help: "Certificate (PEM/DER) or PKCS#12 keystore.")
    var file: String

    @Option(name: .long, help: "Keystore password (PKCS#12 only).")
    var password: String?

    @Option(name: .long, help: "Keystore alias (PKCS#12 only).")
    var alias: String?

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("File not found or unreadable: \(file)")
        }
        let der: [UInt8]
        let label: String
        if let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") {
            guard let pem = try? PEMDocument(pemString: text) else {
                throw ValidationError("\(file) has a CERTIFICATE block that is not valid PEM.")
            }
            der = pem.derBytes
            label = (try? Certificate(derEncoded: der))?.subject.description ?? file
        } else if (try? Certificate(derEncoded: Array(data))) != nil {
            der = Array(data)
            label = (try? Certificate(derEncoded: der))?.subject.description ?? file
        } else {
            let loaded = try KeystoreLoader.load(
                data: Array(data), path: file, password: password ?? "", alias: alias, keyPassword: nil,
                settings: KeystoreSettingNames(path: "FILE", password: "--password", alias: "--alias", keyPassword: "--password"))
            der = loaded.credential.certificateDER
            label = "alias \(loaded.credential.alias): \(loaded.credential.subject)"
        }
        let sha1 = Keystore.Thumbprint.sha1(der: der)
        let sha256 = Keystore.Thumbprint.sha256(der: der)
        print(label)
        print("x5t       (SHA-1)    base64url \(Base64URL.encode(sha1))")
        print("                     hex       \(Hex.encode(sha1, uppercase: true))")
        print("x5t#S256  (SHA-256)  base64url \(Base64URL.encode(sha256))")
        print("                     hex       \(Hex.encode(sha256, uppercase: true))")
    }
}
