import AsyncHTTPClient
import AuthProtocol
import DevPKI
import EntraEmulator
import Foundation
import ServiceSupport
import Settings
import Testing
import TestSupport
import TokenIssuer

/// Who may obtain what from token-issuer (issue 15): services only, by their SPIFFE identity; tokens by default only
/// for the suite's own authn; client assertions for nobody unless listed, and only for the token endpoint; scopes per
/// caller when configured.
@Suite(.serialized)
struct CallerPolicyTests {
    func withIssuer(
        _ extra: [String: String], _ body: @Sendable (TestPKI, Int, Int) async throws -> Void
    ) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let logs = CapturedLogs()
        let emulator = try await Fixtures.emulator(pki: pki, logs: logs)
        try await withServices(emulator.services, logger: logs.logger("group")) {
            let emulatorPort = await emulator.port.port()
            let issuer = try await Fixtures.issuer(pki: pki, logs: logs, emulatorPort: emulatorPort, extra: extra)
            try await withServices(issuer.services, logger: logs.logger("group")) {
                try await body(pki, await issuer.port.port(), emulatorPort)
            }
        }
    }

    /// The defaults: the allow-lists unset, as an operator who sets nothing gets them.
    static let defaults = ["CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS": "", "CAMUNDA_TOKEN_ISSUER_ASSERTION_ALLOWED_CALLERS": ""]

    /// Finding: any certificate of the internal CA got tokens and assertions, the end user's `client.crt` included,
    /// and an end-user certificate named `authn` passed for authn.
    @Test func byDefaultOnlyAuthnObtainsTokensAndNobodyAssertions() async throws {
        try await withIssuer(Self.defaults) { pki, port, _ in
            let token = "https://localhost:\(port)/v1/token"
            let assertion = "https://localhost:\(port)/v1/client-assertion"
            let endUser = try pki.client()
            try await TestPKI.using(endUser) {
                let refused = try await post(endUser, token)
                #expect(refused.status == 403)
                #expect(String(decoding: refused.body, as: UTF8.self).contains("no service identity"))
                #expect(try await post(endUser, assertion).status == 403)
            }
            let impostor = try DevPKI.issueEndUser("authn", dnsNames: ["authn"], issuer: try pki.certificateAuthority())
            try pki.write(impostor, as: "impostor")
            let named = try pki.pemClient("impostor")
            try await TestPKI.using(named) {
                let refused = try await post(named, token)
                #expect(refused.status == 403, "a DNS name or CN 'authn' is not authn's identity")
            }
            let workload = try pki.workloadClient()
            try await TestPKI.using(workload) {
                let refused = try await post(workload, token)
                #expect(refused.status == 403)
                #expect(String(decoding: refused.body, as: UTF8.self).contains("CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS"))
            }
            let authn = try pki.serviceClient("authn")
            try await TestPKI.using(authn) {
                #expect(try await post(authn, token).status == 200)
                let noAssertion = try await post(authn, assertion)
                #expect(noAssertion.status == 403)
                #expect(String(decoding: noAssertion.body, as: UTF8.self).contains("CAMUNDA_TOKEN_ISSUER_ASSERTION_ALLOWED_CALLERS"))
            }
        }
    }

    /// Finding: `POST /v1/client-assertion` signed for any audience the caller named.
    @Test func assertionsAreSignedOnlyForTheTokenEndpoint() async throws {
        try await withIssuer(["CAMUNDA_TOKEN_ISSUER_ASSERTION_ALLOWED_CALLERS": "app"]) { pki, port, emulatorPort in
            let workload = try pki.workloadClient()
            try await TestPKI.using(workload) {
                let url = "https://localhost:\(port)/v1/client-assertion"
                let elsewhere = try await post(workload, url, body: #"{"audience": "https://login.microsoftonline.com/other-tenant/oauth2/v2.0/token"}"#)
                #expect(elsewhere.status == 400)
                #expect(String(decoding: elsewhere.body, as: UTF8.self).contains("only for its token endpoint"))
                let endpoint = "https://localhost:\(emulatorPort)/\(TestPKI.tenantID)/oauth2/v2.0/token"
                for body in ["{}", #"{"audience": "\#(endpoint)"}"#] {
                    let answer = try await post(workload, url, body: body)
                    #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
                    let signed = try JSONDecoder().decode(ClientAssertionResponse.self, from: answer.body)
                    let payload = try #require(signed.clientAssertion.split(separator: ".").dropFirst().first)
                    let json = try #require(Self.base64URL(payload))
                    let claims = try JSONSerialization.jsonObject(with: json) as? [String: Any]
                    #expect(claims?["aud"] as? String == endpoint)
                }
            }
        }
    }

    @Test func scopesCanBeLimitedPerCaller() async throws {
        try await withIssuer(["CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES": "app=\(TestPKI.apiID)/.default"]) { pki, port, _ in
            let workload = try pki.workloadClient()
            try await TestPKI.using(workload) {
                let url = "https://localhost:\(port)/v1/token"
                #expect(try await post(workload, url, body: #"{"scope": "\#(TestPKI.apiID)/.default"}"#).status == 200)
                let other = try await post(workload, url, body: #"{"scope": "https://graph.microsoft.com/.default"}"#)
                #expect(other.status == 403)
                #expect(String(decoding: other.body, as: UTF8.self).contains("CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES"))
            }
        }
    }

    @Test func badAllowListsAreRefusedAtStart() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        for (variable, value) in [
            ("CAMUNDA_TOKEN_ISSUER_ALLOWED_CALLERS", "*"), ("CAMUNDA_TOKEN_ISSUER_ASSERTION_ALLOWED_CALLERS", "spiffe://certauth/app"),
            ("CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES", "app"), ("CAMUNDA_TOKEN_ISSUER_CALLER_SCOPES", "app=api://x"),
        ] {
            #expect {
                _ = try TokenIssuerConfiguration(environment: EnvironmentReader(pki.tokenIssuerEnvironment(emulatorPort: 1, extra: [variable: value])))
            } throws: { error in
                (error as? ConfigurationError)?.variable == variable
            }
        }
    }

    static func base64URL<S: StringProtocol>(_ text: S) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
