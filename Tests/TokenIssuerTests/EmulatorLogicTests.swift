import AuthProtocol
import ClientAssertion
import JOSE
import DevPKI
import EntraEmulator
import Foundation
import Keystore
import Testing
import TestSupport
import WireFormat

/// The emulator is a test oracle for token-issuer: each of Entra's refusals it must give, with the right AADSTS code.
@Suite struct EmulatorLogicTests {
    let pki: TestPKI
    let logic: TokenEndpointLogic
    let credential: Credential
    let key: SigningKeys.Key
    let tenant = TestPKI.tenantID
    var endpoint: String { "https://login.example/\(tenant)/oauth2/v2.0/token" }

    init() async throws {
        pki = try TestPKI()
        let registry = try AppRegistry.load(path: pki.path("apps.json"))
        logic = TokenEndpointLogic(registry: registry, issuerBase: "https://login.example", tokenLifetime: 3599, clockSkew: 300)
        credential = try KeystoreLoader.load(
            path: pki.path("identity.p12"), password: TestPKI.password, alias: "identity", keyPassword: nil, settings: .testCredential
        ).credential
        key = await (try SigningKeys()).signingKey()
    }

    func form(assertion: String? = nil, clientID: String = TestPKI.clientID, scope: String = "\(TestPKI.apiID)/.default") -> [String: String] {
        var form = ["grant_type": "client_credentials", "client_id": clientID, "scope": scope,
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
        form["client_assertion"] = assertion
        return form
    }

    func assertion(clientID: String = TestPKI.clientID, audience: String? = nil, now: Date = Date(), credential: Credential? = nil) throws -> String {
        try ClientAssertionBuilder.make(
            credential: credential ?? self.credential, settings: .init(clientID: clientID), audience: audience ?? endpoint, now: now
        ).token
    }

    func code(tenant: String? = nil, _ form: [String: String], now: Date = Date()) -> Int? {
        do {
            _ = try logic.handle(tenant: tenant ?? self.tenant, form: form, basicAuth: nil, key: key, now: now)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func validAssertionGetsATokenWithTheGrantedRoles() throws {
        let issued = try logic.handle(tenant: tenant, form: form(assertion: try assertion()), basicAuth: nil, key: key, now: Date())
        let claims = try StrictJWS(parsing: issued.accessToken).claims()
        #expect(claims["roles"] == .array([.string("Admin"), .string("Reader")]))
        #expect(claims["ver"] == .string("2.0"))
        #expect(claims["iss"] == .string("https://login.example/\(tenant)/v2.0"))
    }

    @Test func entrasRefusalsCarryTheirCodes() throws {
        let now = Date()
        let good = try assertion()
        #expect(code(form(assertion: good)) == nil)
        #expect(code(tenant: "00000000-0000-0000-0000-000000000000", form(assertion: good)) == 90002)
        #expect(code(form(assertion: good, clientID: "unknown")) == 700016)
        #expect(code(form(assertion: good, scope: TestPKI.apiID)) == 70011)
        #expect(code(form(assertion: good, scope: "99999999-0000-0000-0000-000000000000/.default")) == 500011)
        #expect(code(form(assertion: "not-a-jwt")) == 50027)
        #expect(code(form(assertion: try assertion(clientID: TestPKI.apiID))) == 700021)
        #expect(code(form(assertion: try assertion(audience: "https://elsewhere/token"))) == 700023)
        #expect(code(form(assertion: try assertion(now: now.addingTimeInterval(-3600))), now: now) == 700024)
        let stranger = try KeystoreLoader.load(
            path: pki.path("token-issuer.p12"), password: TestPKI.password, alias: nil, keyPassword: nil, settings: .testCredential).credential
        #expect(code(form(assertion: try assertion(credential: stranger))) == 700027)
        var secret = form()
        secret["client_secret"] = "wrong"
        #expect(code(secret) == 7000215)
        #expect(code(form()) == 7000218)
    }
}

/// Minimal JSON value for reading claims in tests.
enum JSONValue: Codable, Equatable {
    case string(String), number(Double), bool(Bool), array([JSONValue]), object([String: JSONValue]), null
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }
}
