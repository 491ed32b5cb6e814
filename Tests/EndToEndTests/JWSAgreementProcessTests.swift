import AsyncHTTPClient
import Foundation
import JOSE
import Keystore
import NIOCore
import NIOHTTP1
import SwiftASN1
import Testing
import TestSupport
import WireFormat
import X509
import _CryptoExtras

/// Issue 20's acceptance: the JWS cases a lenient reader would let through (a duplicate header member, base64url
/// padding, a header `alg` that does not fit the key) are refused the same way, with the same reason, by authn (a bearer
/// token at `/v2/authentication/me`), the emulator (the same text as a client assertion at its token endpoint) and
/// `certauth decode-token` (with and without a JWKS) — three real processes, one reader (`JOSE.StrictJWS`).
@Suite(.serialized)
struct JWSAgreementProcessTests {
    /// What each surface answered for one token.
    struct Answers {
        var authn: String
        var authnStatus: UInt
        var emulator: String
        var emulatorCode: Int
        var decodeValidated: [String: Any]
        var decodeValidatedStatus: Int32
        var decodeOnly: [String: Any]
        var decodeOnlyStatus: Int32
    }

    @Test func malformedDuplicatePaddedAndMismatchedTokensAreRefusedAlikeEverywhere() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let emulator = try await ProcessTests.startBound("entra-emulator", environment: pki.emulatorEnvironment(), log: pki.path("emulator.log"))
        defer { emulator.process.terminate(); emulator.process.waitUntilExit() }
        let issuer = "https://localhost:\(emulator.port)/\(TestPKI.tenantID)/v2.0"
        let authn = try await ProcessTests.startBound("authn", environment: [
            "SERVER_SSL_KEY_STORE": pki.path("authn.p12"), "SERVER_SSL_KEY_STORE_PASSWORD": TestPKI.password,
            "SERVER_SSL_CLIENT_AUTH": "want", "SERVER_SSL_TRUST_STORE": pki.path("truststore.pem"),
            "CAMUNDA_IDENTITY_TYPE": "MICROSOFT",
            "CAMUNDA_IDENTITY_ISSUER": issuer,
            "CAMUNDA_IDENTITY_AUDIENCE": TestPKI.apiID,
            "CAMUNDA_SECURITY_AUTHENTICATION_OIDC_TRUSTSTORE_PATH": pki.path("truststore.pem"),
        ], log: pki.path("authn.log"))
        defer { authn.process.terminate(); authn.process.waitUntilExit() }

        let client = try pki.client(withCertificate: false)
        do {
            try await check(pki: pki, emulatorPort: emulator.port, authnPort: authn.port, issuer: issuer, client: client)
        } catch {
            Issue.record(error)
        }
        try await client.shutdown()
    }

    func check(pki: TestPKI, emulatorPort: Int, authnPort: Int, issuer: String, client: HTTPClient) async throws {
        // The emulator's signing key (authn's JWKS) and the registered client certificate (the assertion's x5t#S256).
        let jwksResponse = try await client.execute(
            HTTPClientRequest(url: "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/discovery/v2.0/keys"), timeout: .seconds(30))
        let jwks = Data(try await jwksResponse.body.collect(upTo: 1 << 20).readableBytesView)
        let jwksFile = pki.path("jwks.json")
        try jwks.write(to: URL(fileURLWithPath: jwksFile))
        let keys = try #require((try JSONSerialization.jsonObject(with: jwks) as? [String: Any])?["keys"] as? [[String: Any]])
        let kid = try #require(keys.first?["kid"] as? String)
        let registered = try Certificate(pemEncoded: try String(contentsOfFile: pki.path("identity.cer"), encoding: .utf8))
        let thumbprint = try #require(registered.x5tS256)

        let now = Int(Date().timeIntervalSince1970)
        let tokenEndpoint = "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/oauth2/v2.0/token"
        let payload = Self.part("""
            {"aud":"\(tokenEndpoint)","iss":"\(TestPKI.clientID)","sub":"\(TestPKI.clientID)","jti":"jws-agreement",\
            "nbf":\(now),"iat":\(now),"exp":\(now + 300)}
            """)
        let signature = Base64URL.encode([UInt8](repeating: 7, count: 256))
        func header(_ json: String) -> String { Self.part(json) }

        // 1. A duplicate member in the header: a lenient reader keeps one of the two `alg`s.
        let duplicate = "\(header(#"{"alg":"RS256","alg":"none","kid":"\#(kid)","typ":"JWT","x5t#S256":"\#(thumbprint)"}"#)).\(payload).\(signature)"
        // 2. The header with base64 padding (`=`), which RFC 7515 forbids and a lenient decoder accepts.
        var padded = #"{"alg":"RS256","kid":"\#(kid)","typ":"JWT","x5t#S256":"\#(thumbprint)"}"#
        while Self.part(padded).utf8.count % 4 == 0 { padded = padded.replacingOccurrences(of: "{", with: "{ ") }
        let paddedPart = Self.part(padded) + String(repeating: "=", count: 4 - Self.part(padded).utf8.count % 4)
        #expect(Base64URL.decode(paddedPart) == Array(padded.utf8), "the lenient decoder reads the padded header")
        let padding = "\(paddedPart).\(payload).\(signature)"
        // 3. An EC algorithm in the header of a token whose key (the emulator's, the registered certificate's) is RSA.
        let mismatch = "\(header(#"{"alg":"ES256","kid":"\#(kid)","typ":"JWT","x5t#S256":"\#(thumbprint)"}"#)).\(payload).\(signature)"

        let expectations: [(name: String, token: String, code: String, aadsts: Int, decodesAlone: Bool)] = [
            ("duplicate member", duplicate, "malformed", 50027, true),
            ("padding", padding, "malformed", 50027, true),
            ("alg mismatch", mismatch, "algorithmKeyMismatch", 5002730, false),
        ]
        for expected in expectations {
            let answers = try await answers(
                for: expected.token, pki: pki, emulatorPort: emulatorPort, authnPort: authnPort, issuer: issuer,
                jwksFile: jwksFile, client: client)
            // The reason is the JOSE reader's own message: computed here from the same module, then looked for
            // verbatim in each answer.
            let reason: String
            if expected.decodesAlone {
                let error = #expect(throws: JWSError.self) { try StrictJWS(parsing: expected.token) }
                reason = error?.message ?? "?"
                #expect(error?.code.rawValue == expected.code, "\(expected.name)")
            } else {
                let rsa = try #require(keys.first.flatMap(Self.rsaKey))
                let error = #expect(throws: JWSError.self) { try JWS.checkFit(.es256, key: .rsa(rsa), keyID: kid) }
                reason = error?.message ?? "?"
            }
            #expect(answers.authnStatus == 401, "\(expected.name): authn answered \(answers.authnStatus)")
            #expect(answers.authn == reason, "\(expected.name): authn said '\(answers.authn)', expected '\(reason)'")
            #expect(answers.emulatorCode == expected.aadsts, "\(expected.name): emulator AADSTS\(answers.emulatorCode)")
            #expect(answers.emulator.contains("(\(reason))"), "\(expected.name): the emulator said '\(answers.emulator)'")
            #expect(answers.decodeValidatedStatus == 1, "\(expected.name)")
            #expect(answers.decodeValidated["valid"] as? Bool == false)
            #expect(answers.decodeValidated["code"] as? String == expected.code, "\(expected.name): \(answers.decodeValidated)")
            #expect(answers.decodeValidated["reason"] as? String == reason, "\(expected.name): \(answers.decodeValidated)")
            if expected.decodesAlone {
                // Without a JWKS decode-token does not show the token: it refuses it for the same reason.
                #expect(answers.decodeOnlyStatus == 1, "\(expected.name)")
                #expect(answers.decodeOnly["header"] is NSNull && answers.decodeOnly["claims"] is NSNull)
                #expect(answers.decodeOnly["reason"] as? String == reason, "\(expected.name): \(answers.decodeOnly)")
                #expect(answers.decodeOnly["code"] as? String == expected.code)
            } else {
                // Without a key there is nothing to mismatch: shown, unverified.
                #expect(answers.decodeOnlyStatus == 0, "\(expected.name): \(answers.decodeOnly)")
                #expect(answers.decodeOnly["signature_checked"] as? Bool == false)
                #expect((answers.decodeOnly["header"] as? [String: Any])?["alg"] as? String == "ES256")
            }
        }
    }

    func answers(for token: String, pki: TestPKI, emulatorPort: Int, authnPort: Int, issuer: String, jwksFile: String,
                 client: HTTPClient) async throws -> Answers {
        var me = HTTPClientRequest(url: "https://localhost:\(authnPort)/v2/authentication/me")
        me.headers.add(name: "Authorization", value: "Bearer \(token)")
        let meResponse = try await client.execute(me, timeout: .seconds(30))
        let meBody = Data(try await meResponse.body.collect(upTo: 1 << 20).readableBytesView)
        let authnAnswer = (try JSONSerialization.jsonObject(with: meBody) as? [String: Any])?["error_description"] as? String

        var form = HTTPClientRequest(url: "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/oauth2/v2.0/token")
        form.method = .POST
        form.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let fields = [
            ("client_id", TestPKI.clientID), ("scope", "\(TestPKI.apiID)/.default"), ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", token),
        ]
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        form.body = .bytes(ByteBuffer(string: fields.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&")))
        let formResponse = try await client.execute(form, timeout: .seconds(30))
        let formBody = Data(try await formResponse.body.collect(upTo: 1 << 20).readableBytesView)
        let emulatorAnswer = try #require(try JSONSerialization.jsonObject(with: formBody) as? [String: Any])

        let validated = try Self.decodeToken(token, ["--jwks-file", jwksFile, "--issuer", issuer, "--audience", TestPKI.apiID, "--json"])
        let alone = try Self.decodeToken(token, ["--json"])
        return Answers(
            authn: authnAnswer ?? String(decoding: meBody, as: UTF8.self), authnStatus: meResponse.status.code,
            emulator: emulatorAnswer["error_description"] as? String ?? "",
            emulatorCode: (emulatorAnswer["error_codes"] as? [Int])?.first ?? 0,
            decodeValidated: validated.json, decodeValidatedStatus: validated.status,
            decodeOnly: alone.json, decodeOnlyStatus: alone.status)
    }

    /// `certauth decode-token - ARGUMENTS` with `token` on standard input (as an operator keeps it out of the shell
    /// history): the exit status and the one JSON object it prints.
    static func decodeToken(_ token: String, _ arguments: [String]) throws -> (status: Int32, json: [String: Any]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(ProcessTests.binDir)/certauth")
        process.arguments = ["decode-token", "-"] + arguments
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(token.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let json = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? ["unparsed": String(decoding: data, as: UTF8.self)]
        return (process.terminationStatus, json)
    }

    static func part(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }

    /// The RSA public key of a JWK (`n`, `e`), through the suite's JWKS parser.
    static func rsaKey(_ jwk: [String: Any]) -> _RSA.Signing.PublicKey? {
        guard let data = try? JSONSerialization.data(withJSONObject: ["keys": [jwk]]),
              let parsed = try? JSONWebKeySetParser.parse(Array(data)), case .rsa(let key)? = parsed.keys.first?.key
        else { return nil }
        return key
    }
}
