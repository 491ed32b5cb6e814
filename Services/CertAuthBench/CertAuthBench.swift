import AuthProtocol
import ClientAssertion
import Crypto
import DevPKI
import Foundation
import Keystore
import Logging
import Storage
import TokenValidation
import X509
import _CryptoExtras

/// `certauth-bench`: the in-process half of `make bench` (bench/bench.sh runs the HTTP half with h2load).
///
///     certauth-bench jwks DIR                      DIR/jwks.json (kid "bench") for the RSA key in DIR/signing.pem (PEM, made by openssl)
///     certauth-bench mint DIR COUNT ISS AUD        COUNT distinct RS256 access tokens signed with DIR/signing.pem → DIR/tokens.txt
///     certauth-bench assertion-sign BITS SECONDS   client assertions signed per second with an RSA-BITS credential
///     certauth-bench jwt-verify DIR SECONDS        RS256 access tokens (DIR/tokens.txt) validated per second, no cache
///     certauth-bench seed-roles DB RULES           a roles SQLite database with RULES mapping rules (claim rules over 'groups')
///
/// Measurements print one JSON object per line: {"name", "rps", "p50_ms", "p99_ms", "count", "seconds"}.
@main
enum CertAuthBench {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard !arguments.isEmpty else { fail(usage) }
        let command = arguments.removeFirst()
        do {
            switch (command, arguments.count) {
            case ("jwks", 1): try jwks(directory: arguments[0])
            case ("mint", 4):
                try await mint(directory: arguments[0], count: integer(arguments[1], "COUNT"), issuer: arguments[2], audience: arguments[3])
            case ("assertion-sign", 2):
                try assertionSign(bits: integer(arguments[0], "BITS"), seconds: integer(arguments[1], "SECONDS"))
            case ("jwt-verify", 2): try await jwtVerify(directory: arguments[0], seconds: integer(arguments[1], "SECONDS"))
            case ("seed-roles", 2): try await seedRoles(path: arguments[0], rules: integer(arguments[1], "RULES"))
            default: fail(usage)
            }
        } catch {
            fail("certauth-bench \(command): \(error)")
        }
    }

    static let usage = """
        usage: certauth-bench jwks DIR | mint DIR COUNT ISS AUD | assertion-sign BITS SECONDS | jwt-verify DIR SECONDS | seed-roles DB RULES
        """

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }

    static func integer(_ text: String, _ name: String) -> Int {
        guard let value = Int(text), value > 0 else { fail("\(name) must be a positive integer, got '\(text)'") }
        return value
    }

    // MARK: - Keys and tokens

    static func jwks(directory: String) throws {
        guard case .rsa(let key) = try signingKey(directory: directory) else { fail("\(directory)/signing.pem is not an RSA key") }
        let primitives = try key.publicKey.getKeyPrimitives()
        let jwks = """
            {"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"bench","n":"\(Base64URL.encode(primitives.modulus))","e":"\(Base64URL.encode(primitives.publicExponent))"}]}
            """
        try Data(jwks.utf8).write(to: URL(fileURLWithPath: "\(directory)/jwks.json"))
    }

    struct AccessClaims: Encodable {
        var iss: String
        var aud: String
        var sub: String
        var azp: String
        var tid: String
        var jti: String
        var roles: [String]
        var iat: Int
        var nbf: Int
        var exp: Int
    }

    static func signingKey(directory: String) throws -> SigningKey {
        let pem = try String(contentsOfFile: "\(directory)/signing.pem", encoding: .utf8)
        return .rsa(try _RSA.Signing.PrivateKey(pemRepresentation: pem))
    }

    /// Distinct tokens (own `jti` and `sub`), valid for two hours, signed on every core.
    static func mint(directory: String, count: Int, issuer: String, audience: String) async throws {
        let key = try signingKey(directory: directory)
        let now = Int(Date().timeIntervalSince1970)
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let tokens = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var out: [String] = []
                    for index in stride(from: worker, to: count, by: workers) {
                        let claims = AccessClaims(
                            iss: issuer, aud: audience, sub: "bench-\(index)", azp: "bench-client-\(index % 100)",
                            tid: "bench", jti: UUID().uuidString.lowercased(), roles: ["Reader"],
                            iat: now, nbf: now - 60, exp: now + 7200)
                        out.append(try JWS.sign(header: JOSEHeader(alg: "RS256", typ: "JWT", kid: "bench"), claims: claims, key: key))
                    }
                    return out
                }
            }
            var all: [String] = []
            for try await part in group { all += part }
            return all
        }
        try Data((tokens.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/tokens.txt"))
    }

    // MARK: - Measurements

    /// Runs `operation` on this thread for `seconds` and prints the rate and latency percentiles.
    static func measure(_ name: String, seconds: Int, _ operation: (Int) throws -> Void) rethrows {
        let clock = ContinuousClock()
        // Warm-up: a tenth of the time.
        let warmEnd = clock.now.advanced(by: .milliseconds(seconds * 100))
        var index = 0
        while clock.now < warmEnd {
            try operation(index)
            index += 1
        }
        var samples: [Double] = []
        samples.reserveCapacity(1 << 20)
        let start = clock.now
        let end = start.advanced(by: .seconds(seconds))
        var last = start
        while last < end {
            try operation(index)
            index += 1
            let now = clock.now
            samples.append(Double((now - last).components.attoseconds) / 1e15 + Double((now - last).components.seconds) * 1000)
            last = now
        }
        report(name, samples: samples, elapsed: last - start)
    }

    static func report(_ name: String, samples: [Double], elapsed: Duration) {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rps = Double(samples.count) / seconds
        print(#"{"name":"\#(name)","rps":\#(round(rps * 10) / 10),"p50_ms":\#(round(percentile(0.5) * 1000) / 1000),"p99_ms":\#(round(percentile(0.99) * 1000) / 1000),"count":\#(samples.count),"seconds":\#(round(seconds * 100) / 100)}"#)
    }

    /// A credential like the one token-issuer loads from its keystore, with an RSA key of `bits`.
    static func assertionSign(bits: Int, seconds: Int) throws {
        let issued = try DevPKI.issue(
            subject: try DistinguishedName { CommonName("bench-identity") }, usage: .client, issuer: nil, keySize: bits)
        let der = try issued.der
        let credential = Credential(
            alias: "identity", certificate: issued.certificate, certificateDER: der,
            chain: [issued.certificate], chainDER: [der], privateKey: .rsa(issued.key))
        let settings = ClientAssertionSettings(clientID: "6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7")
        let audience = "https://login.microsoftonline.com/ea952511-6a7f-40b8-af71-6c1be6f0dade/oauth2/v2.0/token"
        var bytes = 0
        try measure("assertion_sign_rsa\(bits)", seconds: seconds) { _ in
            bytes &+= try ClientAssertionBuilder.make(credential: credential, settings: settings, audience: audience).token.utf8.count
        }
        if bytes == 0 { fail("no assertion was made") }
    }

    /// TokenValidator (as authn runs it, without the verified-token cache) over distinct tokens.
    static func jwtVerify(directory: String, seconds: Int) async throws {
        let jwks = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/jwks.json")))
        let tokens = try String(contentsOfFile: "\(directory)/tokens.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        guard let first = tokens.first else { fail("\(directory)/tokens.txt holds no tokens; run 'certauth-bench mint' first") }
        let claims = try CompactJWS(parsing: first).claims(as: [String: JSONValue].self)
        guard let issuer = claims["iss"]?.stringValue, let audience = claims["aud"]?.stringValue else {
            fail("the first token has no string iss/aud")
        }
        let keys = KeySetCache(logger: Logger(label: "bench"), fetch: { jwks })
        try await keys.refresh()
        let validator = TokenValidator(settings: TokenValidationSettings(issuers: [issuer], audiences: [audience]), keys: keys)
        // Warm-up, then timed; validate is async (the key lookup is an actor call), so this loop is async too.
        let clock = ContinuousClock()
        var index = 0
        let warmEnd = clock.now.advanced(by: .milliseconds(seconds * 100))
        while clock.now < warmEnd {
            _ = try await validator.validate(tokens[index % tokens.count])
            index += 1
        }
        var samples: [Double] = []
        samples.reserveCapacity(1 << 20)
        let start = clock.now
        let end = start.advanced(by: .seconds(seconds))
        var last = start
        while last < end {
            _ = try await validator.validate(tokens[index % tokens.count])
            index += 1
            let now = clock.now
            let step = now - last
            samples.append(Double(step.components.seconds) * 1000 + Double(step.components.attoseconds) / 1e15)
            last = now
        }
        report("jwt_verify", samples: samples, elapsed: last - start)
    }

    // MARK: - Roles

    /// RULES claim rules `groups` = `group-N`, one role per 10 rules, each rule assigned to its role.
    static func seedRoles(path: String, rules: Int) async throws {
        let (store, _) = try await RolesStores.open(.sqlite(path: path), logger: Logger(label: "bench"))
        let actor = AuditActor(caller: "bench", principal: "bench", method: "bench", credential: "bench")
        let now = Date()
        for role in 0..<(rules + 9) / 10 {
            _ = try await store.apply(.createRole(RoleRecord(id: "role-\(role)", name: "Role \(role)", description: "bench")), by: actor, at: now)
        }
        for rule in 0..<rules {
            let id = "rule-\(rule)"
            _ = try await store.apply(
                .createMappingRule(MappingRuleRecord(id: id, name: "Rule \(rule)", kind: .claim, claimName: "groups", claimValue: "group-\(rule)")),
                by: actor, at: now)
            _ = try await store.apply(.assign(roleID: "role-\(rule / 10)", mappingRuleID: id), by: actor, at: now)
        }
    }
}
