import AuthProtocol
import ClientAssertion
import JOSE
import Crypto
import DevPKI
import Foundation
import Keystore
import Logging
import Storage
import TokenValidation
import WireFormat
import X509
import _CryptoExtras

/// `certauth-bench`: the in-process half of `make bench` (bench/bench.sh runs the HTTP half with h2load).
///
///     certauth-bench jwks DIR                      DIR/jwks.json (kid "bench") for the RSA key in DIR/signing.pem (PEM, made by openssl)
///     certauth-bench mint DIR COUNT ISS AUD        COUNT distinct RS256 access tokens signed with DIR/signing.pem → DIR/tokens.txt
///     certauth-bench assertion-sign BITS SECONDS   client assertions signed per second with an RSA-BITS credential
///     certauth-bench jwt-verify DIR SECONDS        RS256 access tokens (DIR/tokens.txt) validated per second, no cache
///     certauth-bench rsa-verify DIR SECONDS        the floor under jwt-verify: the same tokens' RS256 signatures checked
///                                                  per second with the JWKS key and nothing else (digests made beforehand)
///     certauth-bench cache-memory COUNT [DIR]      bytes per entry of a VerifiedTokenCache filled with COUNT Entra-like
///                                                  tokens (or the first COUNT of DIR/tokens.txt)
///     certauth-bench seed-roles DB RULES           a roles SQLite database with RULES mapping rules (claim rules over 'groups')
///
/// Measurements print one JSON object per line: {"name", "rps", "p50_ms", "p99_ms", "count", "seconds"}. jwt-verify
/// reads the clock once per batch of 64 validations, so its p50/p99 are those of the batch means.
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
            case ("rsa-verify", 2): try await rsaVerify(directory: arguments[0], seconds: integer(arguments[1], "SECONDS"))
            case ("cache-memory", 1): try await cacheMemory(count: integer(arguments[0], "COUNT"), directory: nil)
            case ("cache-memory", 2): try await cacheMemory(count: integer(arguments[0], "COUNT"), directory: arguments[1])
            case ("seed-roles", 2): try await seedRoles(path: arguments[0], rules: integer(arguments[1], "RULES"))
            default: fail(usage)
            }
        } catch {
            fail("certauth-bench \(command): \(error)")
        }
    }

    static let usage = """
        usage: certauth-bench jwks DIR | mint DIR COUNT ISS AUD | assertion-sign BITS SECONDS | jwt-verify DIR SECONDS | rsa-verify DIR SECONDS | cache-memory COUNT [DIR] | seed-roles DB RULES
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
        var jwk = try VerificationKey.rsa(key.publicKey).jwkMembers()
        jwk["use"] = .string("sig")
        jwk["alg"] = .string("RS256")
        jwk["kid"] = .string("bench")
        try Self.jwksDocument(jwk).write(to: URL(fileURLWithPath: "\(directory)/jwks.json"))
    }

    /// A JWKS document holding the one key `jwk`.
    static func jwksDocument(_ jwk: [String: JSONValue]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(JSONValue.object(["keys": .array([.object(jwk)])]))
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
        // Bearer tokens are credentials: 0600 from the first byte, like key files.
        try SecureFile.write(Array((tokens.joined(separator: "\n") + "\n").utf8), to: "\(directory)/tokens.txt", mode: SecureFile.privateMode)
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

    /// Prints the measurement line; `count` operations in `elapsed` (default: one per sample).
    static func report(_ name: String, samples: [Double], count: Int? = nil, elapsed: Duration) {
        let count = count ?? samples.count
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rps = Double(count) / seconds
        print(#"{"name":"\#(name)","rps":\#(round(rps * 10) / 10),"p50_ms":\#(round(percentile(0.5) * 1000) / 1000),"p99_ms":\#(round(percentile(0.99) * 1000) / 1000),"count":\#(count),"seconds":\#(round(seconds * 100) / 100)}"#)
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
        let bench = try await BenchTokens(directory: directory)
        let tokens = bench.tokens
        let validator = TokenValidator(settings: bench.settings, keys: bench.keys)
        // Warm-up, then timed; validate is async (the key lookup may wait for the JWKS), so this loop is async too.
        // The clock is read once per batch of 64, so the loop costs next to nothing beside the validations.
        let batch = 64
        var index = 0
        func validateNext() async throws {
            _ = try await validator.validate(tokens[index])
            index = index + 1 == tokens.count ? 0 : index + 1
        }
        _ = try await timedBatches(of: batch, for: .milliseconds(seconds * 100), validateNext)
        let (samples, elapsed) = try await timedBatches(of: batch, for: .seconds(seconds), validateNext)
        report("jwt_verify", samples: samples, count: samples.count * batch, elapsed: elapsed)
    }

    /// Bare RSA verification of the tokens' signatures (digests computed beforehand): what `jwt_verify` would reach if
    /// everything but the signature check were free. Compare the two rates to see what the rest of validation costs.
    static func rsaVerify(directory: String, seconds: Int) async throws {
        let pem = try String(contentsOfFile: "\(directory)/signing.pem", encoding: .utf8)
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: pem).publicKey
        let bench = try await BenchTokens(directory: directory)
        var inputs: [(signature: _RSA.Signing.RSASignature, digest: SHA256.Digest)] = []
        for token in bench.tokens.prefix(1_000) {
            guard let jws = try? StrictJWS(parsing: token) else {
                fail("a token in \(directory)/tokens.txt is not a compact JWS")
            }
            inputs.append((_RSA.Signing.RSASignature(rawRepresentation: jws.signature), jws.digest))
        }
        let batch = 64
        var index = 0
        var failures = 0
        let (samples, elapsed) = await timedBatches(of: batch, for: .seconds(seconds)) {
            if !key.isValidSignature(inputs[index].signature, for: inputs[index].digest, padding: .insecurePKCS1v1_5) {
                failures += 1
            }
            index = index + 1 == inputs.count ? 0 : index + 1
        }
        if failures > 0 { fail("\(failures) signatures did not verify with \(directory)/signing.pem") }
        report("rsa_verify_floor", samples: samples, count: samples.count * batch, elapsed: elapsed)
    }

    /// Runs `body` in batches of `batch` for `duration`, reading the clock once per batch: per-operation milliseconds of
    /// each batch (its mean), and the time taken.
    static func timedBatches(
        of batch: Int, for duration: Duration, _ body: () async throws -> Void
    ) async rethrows -> (samples: [Double], elapsed: Duration) {
        let clock = ContinuousClock()
        var samples: [Double] = []
        samples.reserveCapacity(1 << 18)
        let start = clock.now
        let end = start.advanced(by: duration)
        var last = start
        while last < end {
            for _ in 0..<batch { try await body() }
            let now = clock.now
            let step = now - last
            samples.append((Double(step.components.seconds) * 1000 + Double(step.components.attoseconds) / 1e15) / Double(batch))
            last = now
        }
        return (samples, last - start)
    }

    /// DIR/tokens.txt and DIR/jwks.json (made by `jwks` and `mint`), with settings accepting them.
    struct BenchTokens {
        var tokens: [String]
        var keys: KeySetCache
        var settings: TokenValidationSettings

        init(directory: String) async throws {
            let jwks = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/jwks.json")))
            // Split as bytes: String.split walks Characters and took seconds over 15,000 tokens (and the profile
            // with it).
            tokens = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/tokens.txt"))
                .split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
            guard let first = tokens.first else { fail("\(directory)/tokens.txt holds no tokens; run 'certauth-bench mint' first") }
            let claims = try StrictJWS(parsing: first).claims()
            guard let issuer = claims["iss"]?.stringValue, let audience = claims["aud"]?.stringValue else {
                fail("the first token has no string iss/aud")
            }
            keys = KeySetCache(logger: Logger(label: "bench"), fetch: { jwks })
            try await keys.refresh()
            settings = TokenValidationSettings(issuers: [issuer], audiences: [audience])
        }
    }

    // MARK: - Memory

    /// Fills a `VerifiedTokenCache` (through the validator, as authn does) with COUNT distinct access tokens and
    /// prints the RSS growth per entry: Entra-like tokens (21 claims, ES256 so that minting is quick), or the first
    /// COUNT tokens of DIR (what `make bench` sends authn). The tokens are made or read before the first reading, so
    /// only what the cache keeps (and the allocator's overhead for it) is counted.
    static func cacheMemory(count: Int, directory: String?) async throws {
        let tokens: [String]
        let keys: KeySetCache
        let settings: TokenValidationSettings
        if let directory {
            let bench = try await BenchTokens(directory: directory)
            guard bench.tokens.count >= count else { fail("\(directory)/tokens.txt holds fewer than \(count) tokens") }
            tokens = Array(bench.tokens.prefix(count))
            keys = bench.keys
            settings = bench.settings
        } else {
            (tokens, keys, settings) = try await entraLikeTokens(count: count)
        }
        let cache = VerifiedTokenCache(capacity: count)
        let validator = TokenValidator(settings: settings, keys: keys, cache: cache)
        // One validation first, so that lazily created state (the key, metadata caches) is not counted.
        _ = try await TokenValidator(settings: settings, keys: keys).validate(tokens[0])
        trimHeap()
        let before = residentBytes()
        for token in tokens { _ = try await validator.validate(token) }
        let after = residentBytes()
        let entries = cache.count
        guard entries == count else { fail("the cache holds \(entries) entries, expected \(count)") }
        let payload = tokens[0].split(separator: ".")[1].utf8.count * 3 / 4
        print(#"{"name":"verified_cache_memory","entries":\#(entries),"payload_bytes":\#(payload),"rss_bytes_per_entry":\#((after - before) / entries),"rss_mb":\#(round(Double(after) / 1e5) / 10)}"#)
    }

    /// COUNT distinct Entra v2-like access tokens (21 claims), the key set that verifies them and settings accepting them.
    static func entraLikeTokens(count: Int) async throws -> ([String], KeySetCache, TokenValidationSettings) {
        let key = P256.Signing.PrivateKey()
        var jwk = try VerificationKey.p256(key.publicKey).jwkMembers()
        jwk["use"] = .string("sig")
        jwk["kid"] = .string("memory-key-0123456789abcdef")
        let jwks = Array(try Self.jwksDocument(jwk))
        let tenant = "ea952511-6a7f-40b8-af71-6c1be6f0dade"
        let api = "2622078b-0164-41ee-8794-3ff8d9f8e402"
        let issuer = "https://login.microsoftonline.com/\(tenant)/v2.0"
        let now = Int(Date().timeIntervalSince1970)
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for index in 0..<count {
            let oid = UUID().uuidString.lowercased()
            let claims: [String: JSONValue] = [
                "aud": .string(api), "iss": .string(issuer), "iat": .number(Double(now - 60)),
                "nbf": .number(Double(now - 60)), "exp": .number(Double(now + 3600)),
                "aio": .string("E2ZgYJjS\(index)/fz1p3nBQA7s9L0mFt2PmKcQ0aUeVY9zZ8A0gU2bQY4wUAAA=="),
                "azp": .string("6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7"), "azpacr": .string("2"),
                "idp": .string("https://sts.windows.net/\(tenant)/"), "name": .string("Bench User \(index)"),
                "oid": .string(oid), "preferred_username": .string("bench.user\(index)@contoso.example"),
                "rh": .string("1.AXkAEWWV6n8auECvcWwb5vDa3osHIiZkAe5Bh5Q_\(index)AJ5AAB5AA."),
                "roles": .array([.string("Admin"), .string("Reader")]), "scp": .string("access_as_user read write"),
                "sid": .string(UUID().uuidString.lowercased()), "sub": .string("sub-\(oid)"), "tid": .string(tenant),
                "uti": .string("uti\(index)AbCdEf0123"), "ver": .string("2.0"),
                "xms_tcdt": .number(1_600_000_000),
            ]
            tokens.append(try JWS.sign(header: JOSEHeader(alg: "ES256", typ: "JWT", kid: "memory-key-0123456789abcdef"),
                                       claims: claims, key: .p256(key)))
        }
        let keys = KeySetCache(logger: Logger(label: "bench"), fetch: { jwks })
        try await keys.refresh()
        return (tokens, keys, TokenValidationSettings(issuers: [issuer], audiences: [api]))
    }

    /// Gives free heap memory back to the system (glibc's `malloc_trim`, looked up at run time), so that the RSS
    /// growth that follows is memory allocated, not freed memory reused (tokens were made or read just before).
    static func trimHeap() {
        #if os(Linux)
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }

    /// The resident set size (`VmRSS` of /proc/self/status; 0 where there is none).
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    // MARK: - Roles

    /// RULES claim rules `groups` = `group-N`, one role per 10 rules, each rule assigned to its role.
    static func seedRoles(path: String, rules: Int) async throws {
        let (store, _) = try await RolesStores.open(.sqlite(path: path), urlSetting: "the bench database", logger: Logger(label: "bench"))
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
