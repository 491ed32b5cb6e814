import AuthProtocol
import Storage
import Testing
@testable import Roles
import WireFormat

/// Resolution against the in-memory index, every rule kind (no database, no HTTP).
@Suite struct ResolutionTests {
    static let keycloakRegex = "CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)"

    static func view(_ rules: [MappingRuleRecord], roles: [String: [String]]) -> RolesView {
        var assignments = Set<RoleAssignment>()
        var roleRecords: [String: RoleRecord] = [:]
        for (role, ruleIDs) in roles {
            roleRecords[role] = RoleRecord(id: role, name: role, description: "")
            for rule in ruleIDs { assignments.insert(RoleAssignment(roleID: role, mappingRuleID: rule)) }
        }
        return RolesView(
            version: 1, rules: Dictionary(uniqueKeysWithValues: rules.map { ($0.id, $0) }), roles: roleRecords,
            assignments: assignments, compiler: RuleCompiler())
    }

    static let sample = view([
        MappingRuleRecord(id: "by-oid", name: "admin by oid", kind: .claim, claimName: "oid", claimValue: "aaa3a5e0"),
        MappingRuleRecord(id: "by-app-role", name: "Entra app role", kind: .claim, claimName: "roles", claimValue: "Reader"),
        MappingRuleRecord(id: "operate-dn", name: "operate cert", kind: .subjectDN, claimName: "",
                          claimValue: "CN=operate,OU=Operate,O=Camunda,L=Berlin,ST=BE,C=DE,emailAddress=operate@camunda.com"),
        MappingRuleRecord(id: "camunda-regex", name: "any Camunda component", kind: .subjectDNRegex, claimName: "", claimValue: keycloakRegex),
        MappingRuleRecord(id: "unassigned", name: "no role", kind: .claim, claimName: "azp", claimValue: "some-client"),
    ], roles: ["admin": ["by-oid"], "reader": ["by-app-role", "operate-dn"], "component": ["camunda-regex"]])

    static func resolve(claims: [String: JSONValue]? = nil, subject: String? = nil) throws -> ResolveResponse {
        let dn = try subject.map { (text: String) throws -> DistinguishedName in try DistinguishedName(parsing: text) }
        return sample.resolve(claims: claims, subject: dn, subjectText: subject)
    }

    @Test func stringClaim() throws {
        let answer = try Self.resolve(claims: ["oid": .string("aaa3a5e0"), "sub": .string("x")])
        #expect(answer == ResolveResponse(roles: ["admin"], mappingRules: ["by-oid"]))
    }

    @Test func arrayClaimLikeEntraRoles() throws {
        let answer = try Self.resolve(claims: ["roles": .array([.string("Admin"), .string("Reader")])])
        #expect(answer == ResolveResponse(roles: ["reader"], mappingRules: ["by-app-role"]))
    }

    @Test func claimValuesAreExact() throws {
        #expect(try Self.resolve(claims: ["roles": .array([.string("reader")]), "OID": .string("aaa3a5e0")]).roles.isEmpty)
        #expect(try Self.resolve(claims: ["oid": .number(1)]).roles.isEmpty)
    }

    @Test(arguments: [
        "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com",
        "CN=operate,OU=Operate,O=Camunda,L=Berlin,ST=BE,C=DE,E=operate@camunda.com",
    ])
    func subjectDNEqualityAndTheSeedRegex(_ subject: String) throws {
        let answer = try Self.resolve(subject: subject)
        #expect(answer == ResolveResponse(roles: ["component", "reader"], mappingRules: ["camunda-regex", "operate-dn"]))
    }

    @Test func regexMatchesOtherComponentsButNotOtherOrganisations() throws {
        let tasklist = try Self.resolve(subject: "CN=tasklist, OU=Tasklist, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=tasklist@camunda.com")
        #expect(tasklist == ResolveResponse(roles: ["component"], mappingRules: ["camunda-regex"]))
        let other = try Self.resolve(subject: "CN=operate, OU=Operate, O=Evil, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com")
        #expect(other == ResolveResponse(roles: [], mappingRules: []))
        // The regex must match the whole subject: an extra RDN in front does not match. (An extra RDN at the end is
        // absorbed by the seed's final `(.*?)`, as in Keycloak: write `[^,]*` there to forbid it.)
        let longer = try Self.resolve(subject: "CN=x, OU=y, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=z, DC=extra")
        #expect(longer.mappingRules == ["camunda-regex"])
        let prefixed = try Self.resolve(subject: "UID=1, CN=x, OU=y, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=z")
        #expect(prefixed.mappingRules.isEmpty)
    }

    @Test func nobodyGetsARoleNoRuleGives() throws {
        #expect(try Self.resolve(claims: [:]) == ResolveResponse(roles: [], mappingRules: []))
        #expect(try Self.resolve() == ResolveResponse(roles: [], mappingRules: []))
        #expect(try Self.resolve(claims: ["sub": .string("aaa3a5e0"), "roles": .array([.string("Writer")])]).roles.isEmpty)
        // A rule assigned to no role matches and grants nothing.
        #expect(try Self.resolve(claims: ["azp": .string("some-client")]) == ResolveResponse(roles: [], mappingRules: ["unassigned"]))
    }

    @Test func tenThousandRulesResolveByLookup() throws {
        var rules: [MappingRuleRecord] = []
        var roles: [String: [String]] = [:]
        for index in 0..<10_000 {
            let id = "rule-\(index)"
            rules.append(MappingRuleRecord(id: id, name: id, kind: .claim, claimName: index % 2 == 0 ? "oid" : "roles", claimValue: "value-\(index)"))
            roles["role-\(index % 50)", default: []].append(id)
        }
        let view = Self.view(rules, roles: roles)
        #expect(view.claimIndex["oid"]?.count == 5_000)
        #expect(view.claimIndex["roles"]?.count == 5_000)
        for index in [0, 1, 4_999, 9_998, 9_999] {
            let claim = index % 2 == 0 ? "oid" : "roles"
            let value: JSONValue = index % 2 == 0 ? .string("value-\(index)") : .array([.string("value-\(index)"), .string("nope")])
            let answer = view.resolve(claims: [claim: value], subject: nil, subjectText: nil)
            #expect(answer == ResolveResponse(roles: ["role-\(index % 50)"], mappingRules: ["rule-\(index)"]))
        }
        let many = view.resolve(claims: ["roles": .array((0..<100).map { .string("value-\(2 * $0 + 1)") })], subject: nil, subjectText: nil)
        #expect(many.mappingRules.count == 100)
        #expect(many.roles == Set((0..<100).map { "role-\((2 * $0 + 1) % 50)" }).sorted())
        #expect(view.resolve(claims: ["oid": .string("value-1")], subject: nil, subjectText: nil).roles.isEmpty)
    }
}

/// Certificate rules by SAN and SPIFFE ID, and the issuing CA pin (issue 17 item 5).
@Suite struct CertificateRuleResolutionTests {
    static let firstCA = String(repeating: "a1", count: 32)
    static let secondCA = String(repeating: "b2", count: 32)

    static let view = ResolutionTests.view([
        MappingRuleRecord(id: "dn-pinned", name: "operate pinned", kind: .subjectDN, claimName: "",
                          claimValue: "CN=operate,O=Partner", issuerSPKISHA256: firstCA),
        MappingRuleRecord(id: "regex-pinned", name: "partner pinned", kind: .subjectDNRegex, claimName: "",
                          claimValue: "CN=(.*), O=Partner", issuerSPKISHA256: firstCA),
        MappingRuleRecord(id: "dns", name: "dns", kind: .sanDNS, claimName: "", claimValue: "operate.partner.example"),
        MappingRuleRecord(id: "dns-wild", name: "dns wildcard", kind: .sanDNS, claimName: "", claimValue: "*.svc.partner.example"),
        MappingRuleRecord(id: "uri", name: "uri", kind: .sanURI, claimName: "", claimValue: "urn:partner:operate"),
        MappingRuleRecord(id: "spiffe", name: "spiffe", kind: .spiffeID, claimName: "",
                          claimValue: "spiffe://partner.example/ns/prod/sa/*", issuerSPKISHA256: secondCA),
    ], roles: ["pinned": ["dn-pinned", "regex-pinned"], "dns": ["dns", "dns-wild"], "uri": ["uri"], "workload": ["spiffe"]])

    static func resolve(subject: String? = nil, sans: [String] = [], issuer: String?) throws -> ResolveResponse {
        let dn = try subject.map { (text: String) throws -> DistinguishedName in try DistinguishedName(parsing: text) }
        return view.resolve(claims: nil, subject: dn, subjectText: subject, certificate: CertificateFacts(sans: sans, issuerSPKISHA256: issuer))
    }

    @Test func aPinnedRuleMatchesOnlyTheIssuerItPins() throws {
        #expect(try Self.resolve(subject: "CN=operate, O=Partner", issuer: Self.firstCA).mappingRules == ["dn-pinned", "regex-pinned"])
        #expect(try Self.resolve(subject: "CN=operate, O=Partner", issuer: Self.secondCA).mappingRules.isEmpty)
        // No issuer digest (the client certificate is itself an anchor): no pinned rule.
        #expect(try Self.resolve(subject: "CN=operate, O=Partner", issuer: nil).mappingRules.isEmpty)
    }

    @Test func dnsAndURIRules() throws {
        let answer = try Self.resolve(sans: ["DNS:Operate.Partner.Example", "DNS:x.svc.partner.example", "URI:urn:partner:operate"], issuer: nil)
        #expect(answer == ResolveResponse(roles: ["dns", "uri"], mappingRules: ["dns", "dns-wild", "uri"]))
        #expect(try Self.resolve(sans: ["DNS:a.b.svc.partner.example", "URI:urn:partner:OPERATE", "operate.partner.example"], issuer: nil).mappingRules.isEmpty)
    }

    @Test func spiffeRulesNeedExactlyOneSPIFFEID() throws {
        let id = "URI:spiffe://partner.example/ns/prod/sa/operate"
        #expect(try Self.resolve(sans: [id], issuer: Self.secondCA).roles == ["workload"])
        #expect(try Self.resolve(sans: [id], issuer: Self.firstCA).roles.isEmpty)
        #expect(try Self.resolve(sans: [id, "URI:spiffe://partner.example/ns/prod/sa/other"], issuer: Self.secondCA).roles.isEmpty)
        #expect(try Self.resolve(sans: ["URI:spiffe://partner.example/ns/dev/sa/operate"], issuer: Self.secondCA).roles.isEmpty)
    }
}
