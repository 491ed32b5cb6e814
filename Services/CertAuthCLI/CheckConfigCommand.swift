import ArgumentParser
import Authn
import CertificateValidation
import EntraEmulator
import Foundation
import Keystore
import Roles
import ServiceClient
import ServiceSupport
import Settings
import Storage
import TokenIssuer
import WireFormat
import X509

/// `certauth check-config SERVICE`: reads the service's settings from this environment exactly as the service does
/// at start (same parser, `NAME_FILE` included), opens every keystore, trust store and certificate file they name,
/// and prints what the service would use — or the one line that says what is wrong. No network calls: an IdP or a
/// database that is down is not a configuration error. Exit 0 when the service would start, 1 when not.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Checks a service's environment and files as the service would at start (exit 0 ok, 1 with the reason).")

    enum ServiceKind: String, ExpressibleByArgument, CaseIterable {
        case tokenIssuer = "token-issuer", authn, roles, entraEmulator = "entra-emulator"
    }

    @Argument(help: "token-issuer, authn, roles or entra-emulator.")
    var service: ServiceKind

    func run() async throws {
        var lines: [String] = []
        do {
            let env = try EnvironmentReader.readingFiles(ProcessInfo.processInfo.environment, prefixes: ServiceMain.settingPrefixes)
            switch service {
            case .tokenIssuer:
                let configuration = try TokenIssuerConfiguration(environment: env)
                lines += try Self.listener(configuration.listener)
                lines.append("client authentication: \(configuration.clientAuthenticationMethod.rawValue)")
                if let keystore = configuration.keystore { lines += try Self.keystore(keystore, "client credential") }
                if let next = configuration.nextKeystore { lines += try Self.keystore(next, "next client credential") }
                if let rotation = configuration.rotation {
                    lines.append("zero-touch rotation at Entra: Graph \(rotation.graphURL.absoluteString), application object id \(rotation.applicationObjectID), old key removed \(rotation.gracePeriod.components.seconds) s after the switch")
                }
                if case .file(let file) = configuration.assertionSource {
                    // Read and checked as for an exchange: expired, not yet valid, wrong audience.
                    _ = try file.read()
                    lines.append("client assertion: federated token file \(file.path) (read for every exchange; audience \(file.audience ?? "not checked"))")
                }
                for proxy in Set([configuration.httpsProxy, configuration.httpProxy].compactMap { $0?.description }).sorted() {
                    lines.append("IdP calls through proxy \(proxy) (NO_PROXY: \((configuration.httpsProxy ?? configuration.httpProxy)?.bypass.joined(separator: ",") ?? ""))")
                }
                if let trust = configuration.idpTrustStore { lines += try Self.trustStore(trust, "IdP trust store", systemRoots: true) }
                lines.append("IdP: \(configuration.identityType.rawValue), \(configuration.tokenURI.map { "token endpoint \($0.absoluteString)" } ?? "discovery at \(configuration.issuerBackendURL?.absoluteString ?? "?")"), client id \(configuration.clientID), scope \(configuration.defaultScope)")
                if configuration.allowInsecureHTTP {
                    lines.append("WARNING: \(TokenIssuerSetting.allowInsecureHTTP)=true: the token endpoint may be reached over plain http beyond loopback")
                }
            case .authn:
                let configuration = try AuthnConfiguration(environment: env)
                lines += try Self.listener(configuration.listener)
                if let oidc = configuration.oidc {
                    lines.append("bearer tokens: issuers \(oidc.issuers.joined(separator: ", ")); audiences \(oidc.audiences.joined(separator: ", ")); keys from \(oidc.jwkSetURI?.absoluteString ?? "the issuer's discovery document")")
                    if let trust = oidc.idpTrustStore { lines += try Self.trustStore(trust, "IdP trust store", systemRoots: true) }
                    for proxy in Set([oidc.proxies.https, oidc.proxies.http].compactMap { $0?.description }).sorted() {
                        lines.append("IdP calls (discovery, JWKS) through proxy \(proxy)")
                    }
                    lines.append("maximum token lifetime: \(oidc.maxTokenLifetime.components.seconds) s")
                    if !oidc.allowedTenants.isEmpty {
                        lines.append("multi-tenant issuer: allowed tenants \(oidc.allowedTenants.joined(separator: ", "))")
                    }
                    if oidc.allowInsecureHTTP {
                        lines.append("WARNING: \(AuthnSetting.allowInsecureHTTP)=true: keys may be fetched over plain http beyond loopback")
                    }
                } else {
                    lines.append("bearer tokens: off (no issuer or JWK set URI)")
                }
                if let mtls = configuration.mtls {
                    let trusted = try CertificatePEM.load(files: mtls.trustedCertificateFiles, setting: AuthnSetting.mtlsTrusted)
                    lines.append("client certificates: \(trusted.count) trusted certificate(s): \(trusted.map { Self.describe($0) }.joined(separator: "; "))")
                    if !mtls.intermediateCertificateFiles.isEmpty {
                        let intermediates = try CertificatePEM.load(files: mtls.intermediateCertificateFiles, setting: AuthnSetting.mtlsIntermediates)
                        lines.append("intermediates: \(intermediates.count)")
                    }
                    if !mtls.trustedProxyFiles.isEmpty {
                        let proxies = try CertificatePEM.load(files: mtls.trustedProxyFiles, setting: AuthnSetting.mtlsTrustedProxies)
                        lines.append("trusted proxies: \(proxies.count)")
                    }
                    _ = try SubjectPrincipalMapper(pattern: mtls.subjectPattern, setting: AuthnSetting.mtlsSubjectPattern)
                    lines += try Self.revocation(mtls)
                } else {
                    lines.append("client certificates: off")
                }
                lines.append("roles: \(configuration.rolesURL?.absoluteString ?? "off"), token-issuer: \(configuration.tokenIssuerURL?.absoluteString ?? "off")")
                lines.append("sessions: \(configuration.sessions.persistent ? "persistent (\(configuration.sessions.database?.redactedDescription ?? "?"))" : "in memory")")
            case .roles:
                let configuration = try RolesConfiguration(environment: env)
                lines += try Self.listener(configuration.listener)
                lines.append("storage: \(configuration.database.redactedDescription)")
            case .entraEmulator:
                let configuration = try EmulatorConfiguration(environment: env)
                lines += try Self.listener(configuration.listener)
                let registry = try AppRegistry.load(path: configuration.appsPath)
                lines.append("tenant \(registry.tenantID), \(registry.apps.count) app registration(s), issuer base \(configuration.baseURL ?? "https://localhost:<port>")")
            }
            if let traces = try TraceExportSettings(environment: env) {
                lines.append("traces: exported over OTLP/HTTP (\(traces.protocolName)) to \(traces.endpoint) (\(traces.endpointVariable)) as service \(traces.serviceName ?? service.rawValue)")
            } else {
                lines.append("traces: not exported (OTEL_EXPORTER_OTLP_ENDPOINT is not set)")
            }
        } catch {
            FileHandle.standardError.write(Data((ServiceMain.failureLine(name: service.rawValue, error) + "\n").utf8))
            throw ExitCode(1)
        }
        print("\(service.rawValue): configuration OK")
        for line in lines { print("  \(line)") }
    }

    /// authn's revocation checking as it would run: the global policy, each anchor's, the CRL files (read) and
    /// whether distribution points are fetched.
    static func revocation(_ mtls: MTLSSettings) throws -> [String] {
        guard mtls.usesCRL || mtls.usesOCSP else { return ["revocation: off"] }
        var lines = ["revocation: \(mtls.revocation.rawValue), failure \(mtls.revocationFailure.rawValue) (the default for anchors not listed in \(AuthnSetting.mtlsRevocationByAnchor))"]
        let byAnchor = try AnchorRevocationSetting.resolve(
            mtls.revocationByAnchor, globalFailure: mtls.revocationFailure, trustedFiles: mtls.trustedCertificateFiles,
            variable: AuthnSetting.mtlsRevocationByAnchor)
        for (digest, policy) in byAnchor.sorted(by: { $0.key < $1.key }) {
            lines.append("revocation for anchor \(policy.anchor) (spki_sha256 \(digest)): \(policy.mode.rawValue), failure \(policy.failure.rawValue)")
        }
        if mtls.usesCRL {
            if !mtls.crlPaths.isEmpty {
                let store = try CRLStore(paths: mtls.crlPaths, setting: AuthnSetting.mtlsCRLPaths)
                for file in store.status {
                    let next = file.lists.compactMap(\.nextUpdate).min()
                    lines.append("CRL file \(file.path): \(file.lists.count) CRL(s), next update \(next.map(RFC3339.string) ?? "none")\(next.map { $0 < Date() } == true ? " (STALE)" : "")")
                }
            }
            lines.append(mtls.crlFetch
                ? "CRL distribution points: fetched (http only, \(mtls.crlFetchMaxBytes) bytes and \(mtls.crlFetchTimeout.components.seconds) s at most, again every \(mtls.crlFetchInterval.components.seconds) s or ahead of nextUpdate)"
                : "CRL distribution points: not fetched (\(AuthnSetting.mtlsCRLFetch)=false)")
        }
        return lines
    }

    static func listener(_ listener: ListenerSettings) throws -> [String] {
        var lines = ["listener \(listener.address):\(listener.port) (TLS \(listener.sslEnabled ? "on" : "off"), client certificates \(listener.clientAuth.rawValue)), management port \(listener.managementPort)"]
        if let keystore = listener.keystore { lines += try Self.keystore(keystore, "server certificate") }
        if let trust = listener.trustStore { lines += try Self.trustStore(trust, "trusted client CAs", systemRoots: false) }
        return lines
    }

    /// Opens a keystore as the service would and describes the selected entry (never key material).
    static func keystore(_ keystore: KeystoreSource, _ label: String) throws -> [String] {
        let loaded = try keystore.load()
        let credential = loaded.credential
        return ["\(label): alias '\(credential.alias)', \(describe(credential.certificate)), x5t#S256 \(Base64URL.encode(credential.sha256Thumbprint)), from \(keystore.files.joined(separator: " + "))"]
            + loaded.warnings.map { "warning: \($0)" }
    }

    static func trustStore(_ trust: TrustStoreSource, _ label: String, systemRoots: Bool) throws -> [String] {
        ["\(label): \(try trust.load().count) certificate(s) from \(trust.path)\(systemRoots ? ", plus the system roots" : "")"]
    }

    static func describe(_ certificate: Certificate) -> String {
        "\(DistinguishedNameFormat.string(certificate.subject)), expires \(RFC3339.string(certificate.notValidAfter))"
    }
}
