import ArgumentParser
import AsyncHTTPClient
import Foundation
import JOSE
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import TokenValidation
import WireFormat

/// `certauth decode-token`: show a JWT's header and claims, and with a JWKS validate it exactly as authn does.
struct DecodeToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode-token",
        abstract: "Decode a JWT (access token or client assertion); with a JWKS, validate it as authn does.",
        discussion: """
            Pass '-' to read the token from standard input, which keeps it out of your shell history. Without \
            --jwks-file or --jwks-uri the token is only decoded and its signature is NOT checked. With one of them, \
            --issuer and --audience are required and the token goes through the same checks as in authn \
            (algorithm allowlist, kid from the JWKS, signature, iss, aud, exp/nbf/iat with 60 s leeway). \
            The token itself is never printed. Exit status: 0 valid (or decoded), 1 invalid, 2 usage error or \
            JWKS not loadable.
            """)

    @Argument(help: "The token, or - for standard input.")
    var token: String

    @Option(name: .customLong("jwks-file"), help: "JWKS document (JSON) to validate against.")
    var jwksFile: String?

    @Option(name: .customLong("jwks-uri"), help: "JWKS URL to fetch and validate against (as CAMUNDA_SECURITY_AUTHENTICATION_OIDC_JWK_SET_URI).")
    var jwksURI: String?

    @Option(name: .long, help: "PEM file of CA certificates trusted for --jwks-uri, on top of the system roots.")
    var cacert: String?

    @Option(name: .long, help: "Accepted issuer, as CAMUNDA_IDENTITY_ISSUER (repeatable or comma list).")
    var issuer: [String] = []

    @Option(name: .long, help: "Accepted audience, as CAMUNDA_IDENTITY_AUDIENCE (repeatable or comma list).")
    var audience: [String] = []

    @Option(name: .long, help: "MICROSOFT (accept the tenant's Entra v1 and v2 issuers), GENERIC or KEYCLOAK, as CAMUNDA_IDENTITY_TYPE.")
    var type: String?

    @Option(name: .long, help: "Validation time, RFC 3339 (default: now), e.g. 2030-01-01T00:00:00Z.")
    var at: String?

    @Flag(name: .long, help: "Print one JSON object: header, claims, times, signature_checked, valid, code, reason.")
    var json = false

    func run() async throws {
        let request: Request
        do {
            request = try prepare()
        } catch {
            FileHandle.standardError.write(Data("certauth decode-token: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        let decoded = Decoded(request.token)
        guard let checks = request.checks else {
            report(decoded, now: request.now, verdict: nil)
            if decoded.problem != nil { throw ExitCode(1) }
            return
        }
        let client = checks.makeClient()
        let keys = KeySetCache(settings: .init(fetchTimeout: .seconds(15), jwkSetURISetting: Self.settingNames.jwkSetURI), logger: Self.logger,
                               fetch: checks.fetch(client: client))
        do {
            try await keys.refresh()
        } catch {
            try? await client?.shutdown()
            FileHandle.standardError.write(Data("certauth decode-token: could not load the JWKS: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        let validator = TokenValidator(settings: checks.settings, keys: keys)
        let verdict: Verdict
        do {
            verdict = .valid(try await validator.validate(request.token, now: request.now))
        } catch {
            verdict = .invalid(error)
        }
        try? await client?.shutdown()
        report(decoded, now: request.now, verdict: verdict)
        if case .invalid = verdict { throw ExitCode(1) }
    }

    /// Warnings (skipped JWKS keys, failed refreshes) go to standard error; nothing else is logged.
    static var logger: Logger {
        var logger = Logger(label: "certauth") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }

    // MARK: - Input

    struct Request {
        var token: String
        var now: Date
        var checks: Checks?
    }

    /// What validation needs: where the keys come from and the settings.
    struct Checks {
        enum Source {
            case file(String)
            case uri(String, trust: [NIOSSLCertificate])
        }

        var source: Source
        var settings: TokenValidationSettings

        func makeClient() -> HTTPClient? {
            guard case .uri(_, let trust) = source else { return nil }
            var tls = TLSConfiguration.makeClientConfiguration()
            if !trust.isEmpty { tls.additionalTrustRoots = [.certificates(trust)] }
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        }

        func fetch(client: HTTPClient?) -> @Sendable () async throws -> [UInt8] {
            switch source {
            case .file(let path):
                return {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw JWSError("--jwks-file \(path): file not found or unreadable")
                    }
                    return Array(data)
                }
            case .uri(let uri, _):
                guard let client else { return { throw JWSError("no HTTP client for --jwks-uri") } }
                return {
                    var request = HTTPClientRequest(url: uri)
                    request.headers.add(name: "Accept", value: "application/json")
                    let response: HTTPClientResponse
                    do {
                        response = try await client.execute(request, timeout: .seconds(10))
                    } catch {
                        throw JWSError("GET \(uri) failed: \(error) (for a private CA pass --cacert)")
                    }
                    guard response.status.code == 200 else {
                        throw JWSError("GET \(uri) answered HTTP \(response.status.code)")
                    }
                    let body = try await response.body.collect(upTo: 1024 * 1024)
                    return Array(body.readableBytesView)
                }
            }
        }
    }

    func prepare() throws(JWSError) -> Request {
        var text = token
        if token == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.lowercased().hasPrefix("bearer ") {
            text = String(text.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        guard !text.isEmpty else {
            throw JWSError("no token given; pass it as the argument or '-' to read standard input")
        }
        guard let now = validationTime(at) else { throw JWSError(badValidationTime(at)) }
        let issuers = list(issuer)
        let audiences = list(audience)
        let identityType = type?.uppercased()
        if let identityType, !["MICROSOFT", "GENERIC", "KEYCLOAK"].contains(identityType) {
            throw JWSError("--type must be MICROSOFT, GENERIC or KEYCLOAK (got '\(type ?? "")')")
        }
        let source: Checks.Source
        switch (jwksFile, jwksURI) {
        case (nil, nil):
            if !issuers.isEmpty || !audiences.isEmpty || cacert != nil || type != nil {
                throw JWSError("--issuer, --audience, --type and --cacert need --jwks-file or --jwks-uri to validate against")
            }
            return Request(token: text, now: now, checks: nil)
        case (let file?, nil):
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw JWSError("--jwks-file \(file): file not found or unreadable")
            }
            if cacert != nil { throw JWSError("--cacert applies to --jwks-uri only") }
            source = .file(file)
        case (nil, let uri?):
            guard let url = URL(string: uri), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw JWSError("--jwks-uri must be an http(s) URL such as https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys (got '\(uri)')")
            }
            var trust: [NIOSSLCertificate] = []
            if let cacert {
                do {
                    trust = try NIOSSLCertificate.fromPEMFile(cacert)
                } catch {
                    throw JWSError("--cacert \(cacert): not a readable PEM file of certificates")
                }
                if trust.isEmpty { throw JWSError("--cacert \(cacert): no certificate in the file") }
            }
            source = .uri(uri, trust: trust)
        case (.some, .some):
            throw JWSError("pass either --jwks-file or --jwks-uri, not both")
        }
        guard !issuers.isEmpty else {
            throw JWSError("--issuer is required to validate (the value of CAMUNDA_IDENTITY_ISSUER)")
        }
        guard !audiences.isEmpty else {
            throw JWSError("--audience is required to validate (the value of CAMUNDA_IDENTITY_AUDIENCE)")
        }
        var accepted = issuers
        if identityType == "MICROSOFT" {
            accepted = []
            for issuer in issuers.flatMap(TokenValidationSettings.microsoftIssuers(configured:))
            where !accepted.contains(issuer) {
                accepted.append(issuer)
            }
        }
        let settings = TokenValidationSettings(
            issuers: accepted, audiences: audiences, maxTokenLength: 64 * 1024, names: Self.settingNames)
        return Request(token: text, now: now, checks: Checks(source: source, settings: settings))
    }

    /// The fix a refusal names is one of this command's flags.
    static let settingNames = TokenValidationSettingNames(
        issuer: "--issuer", audience: "--audience", jwkSetURI: "--jwks-uri (or --jwks-file)", identityType: "--type",
        maxTokenLifetime: "the maximum token lifetime (24 hours; not settable in decode-token)",
        allowedTenants: "the allowed tenants (not settable in decode-token)")

    private func list(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    // MARK: - Output

    enum Verdict {
        case valid(ValidatedToken)
        case invalid(TokenValidationError)
    }

    /// Header and claims as JSON objects, read by the suite's one strict JWS reader (``StrictJWS``), so a token authn
    /// or the emulator would refuse unread (duplicate members, padding, `alg: none`, …) is refused here with the same
    /// message; nil with the refusal otherwise.
    struct Decoded {
        var header: [String: Any]?
        var claims: [String: Any]?
        var problem: JWSError?

        init(_ token: String) {
            do {
                let jws = try StrictJWS(parsing: token, maxLength: 1024 * 1024)
                _ = try jws.claims()
                // Rendered from the bytes the strict reader accepted (no member is duplicated, so any reader agrees).
                header = jws.headerJSON.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
                claims = try? JSONSerialization.jsonObject(with: Data(jws.payload)) as? [String: Any]
            } catch {
                problem = error
            }
        }
    }

    func report(_ decoded: Decoded, now: Date, verdict: Verdict?) {
        let times = timeClaims(decoded.claims ?? [:], now: now)
        if json {
            var object: [String: Any] = ["signature_checked": verdict != nil]
            object["header"] = decoded.header ?? NSNull()
            object["claims"] = decoded.claims ?? NSNull()
            object["times"] = Dictionary(uniqueKeysWithValues: times.map { ($0.name, $0.date) })
            if let problem = decoded.problem {
                object["decode_error"] = problem.message
                object["decode_code"] = problem.code.rawValue
            }
            switch verdict {
            case .valid(let validated)?:
                object["valid"] = true
                object["principal"] = validated.subject ?? validated.clientID ?? NSNull()
                object["client_id"] = validated.clientID ?? NSNull()
                object["roles"] = validated.roles
                object["scopes"] = validated.scopes
                object["key_id"] = validated.keyID
                object["algorithm"] = validated.algorithm.rawValue
            case .invalid(let error)?:
                object["valid"] = false
                object["code"] = error.code.rawValue
                object["reason"] = error.message
            case nil:
                if let problem = decoded.problem {
                    object["valid"] = false
                    object["code"] = problem.code.rawValue
                    object["reason"] = problem.message
                }
            }
            print(Self.render(object, pretty: false))
            return
        }
        if let header = decoded.header {
            print("header:")
            print(Self.render(header, pretty: true))
        }
        if let claims = decoded.claims {
            print("claims:")
            print(Self.render(claims, pretty: true))
        }
        if !times.isEmpty {
            print("times:")
            for time in times { print("  \(time.name): \(time.date) (\(time.relative))") }
        }
        if let problem = decoded.problem, verdict == nil {
            print("REFUSED (\(problem.code.rawValue)): \(problem.message)")
            return
        }
        switch verdict {
        case nil:
            print("signature NOT checked (pass --jwks-file or --jwks-uri with --issuer and --audience to validate)")
        case .valid(let validated)?:
            print("VALID: \(validated.algorithm.rawValue) signature by key '\(validated.keyID)'; issuer, audience and times accepted")
            print("  issuer     \(validated.issuer)")
            if let subject = validated.subject { print("  subject    \(subject)") }
            if let client = validated.clientID { print("  client id  \(client)") }
            if let tenant = validated.tenantID { print("  tenant id  \(tenant)") }
            print("  roles      \(validated.roles.joined(separator: ", "))")
            if !validated.scopes.isEmpty { print("  scopes     \(validated.scopes.joined(separator: " "))") }
        case .invalid(let error)?:
            print("INVALID (\(error.code.rawValue)): \(error.message)")
        }
    }

    private func timeClaims(_ claims: [String: Any], now: Date) -> [(name: String, date: String, relative: String)] {
        ["iat", "nbf", "exp"].compactMap { name in
            guard let number = claims[name] as? NSNumber else { return nil }
            let seconds = number.doubleValue
            guard seconds.isFinite, abs(seconds) < 253_402_300_800 else { return nil }
            let date = Date(timeIntervalSince1970: seconds)
            let delta = Int(date.timeIntervalSince(now))
            let relative = delta >= 0 ? "in \(delta) s" : "\(-delta) s ago"
            return (name, RFC3339.string(date), relative)
        }
    }

    static func render(_ object: [String: Any], pretty: Bool) -> String {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: options)
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
