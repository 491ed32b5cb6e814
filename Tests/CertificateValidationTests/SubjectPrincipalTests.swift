import CertificateValidation
import SwiftASN1
import Testing
import X509

@Suite struct SubjectPrincipalTests {
    static let keycloakPattern = "CN=(.*?), OU=(.*?), O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=(.*?)"

    @Test func seedSubjectString() throws {
        let name = try seedOperateSubject()
        #expect(DistinguishedNameFormat.string(name)
            == "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com")
        #expect(DistinguishedNameFormat.commonName(name) == "operate")
    }

    @Test func escapingAndUnusualAttributes() throws {
        let multiValued = RelativeDistinguishedName([
            RelativeDistinguishedName.Attribute(type: .RDNAttributeType.commonName, utf8String: "a;b<c>\"d\"\\ "),
            RelativeDistinguishedName.Attribute(type: [0, 9, 2342, 19_200_300, 100, 1, 1], utf8String: "u1"),
        ])
        let name = DistinguishedName(
            try DistinguishedName {
                DomainComponent("example")
                OrganizationName("Smith, Jones + Partners")
                OrganizationalUnitName(" #lead")
            } + [multiValued])
        let text = DistinguishedNameFormat.string(name)
        // The attributes of a multi-valued RDN keep their (DER set) order, joined by +.
        let first = #"CN=a\;b\<c\>\"d\"\\\ "#
        #expect(text == first + "+UID=u1" + #", OU=\ #lead, O=Smith\, Jones \+ Partners, DC=example"#
            || text == "UID=u1+" + first + #", OU=\ #lead, O=Smith\, Jones \+ Partners, DC=example"#, "\(text)")
        #expect(DistinguishedNameFormat.commonName(name) == #"a;b<c>"d"\ "#)

        // "Zoë" as a BMPString (UTF-16BE), which swift-certificates keeps as an opaque value.
        let bmp = try ASN1Any(erasing: ASN1BMPString(contentBytes: [0x00, 0x5A, 0x00, 0x6F, 0x00, 0xEB]))
        let unknown = DistinguishedName([
            RelativeDistinguishedName(RelativeDistinguishedName.Attribute(type: [2, 5, 4, 12], utf8String: "Engineer")),  // title
            RelativeDistinguishedName(RelativeDistinguishedName.Attribute(type: .RDNAttributeType.commonName, value: bmp)),
        ])
        // RFC 4514: an attribute known only by OID is written as #hex of its DER value; BMPString is decoded.
        #expect(DistinguishedNameFormat.string(unknown) == "CN=Zoë, 2.5.4.12=#0c08456e67696e656572")
        #expect(DistinguishedNameFormat.commonName(unknown) == "Zoë")
        #expect(DistinguishedNameFormat.commonName(try DistinguishedName { OrganizationName("no cn") }) == nil)
    }

    @Test func mostSpecificCommonNameWins() throws {
        let name = try DistinguishedName {
            CommonName("outer")
            OrganizationName("Org")
            CommonName("inner")
        }
        #expect(DistinguishedNameFormat.commonName(name) == "inner")
        #expect(try SubjectPrincipalMapper(pattern: nil, setting: "X").principal(for: name) == "inner")
    }

    @Test func keycloakRegexNeedsTheWholeSubject() throws {
        let mapper = try SubjectPrincipalMapper(pattern: Self.keycloakPattern, setting: "CAMUNDA_MTLS_SUBJECT_PATTERN")
        #expect(mapper.principal(for: try seedOperateSubject()) == "operate")
        // Another organisation: no match, no principal.
        let elsewhere = try DistinguishedName {
            EmailAddress("operate@elsewhere.com")
            CountryName("DE")
            StateOrProvinceName("BE")
            LocalityName("Berlin")
            OrganizationName("Elsewhere")
            OrganizationalUnitName("Operate")
            CommonName("operate")
        }
        #expect(mapper.principal(for: elsewhere) == nil)
        // A pattern that matches only a prefix of the subject does not count (Java's matches(), not find()).
        let prefix = try SubjectPrincipalMapper(pattern: "CN=(.*?), OU=Operate", setting: "X")
        #expect(prefix.principal(for: try seedOperateSubject()) == nil)
        // The second group can be the principal too, by moving it first.
        let byUnit = try SubjectPrincipalMapper(pattern: "CN=.*?, OU=(.*?), O=Camunda, .*", setting: "X")
        #expect(byUnit.principal(for: try seedOperateSubject()) == "Operate")
        // An empty group gives no principal.
        let empty = try SubjectPrincipalMapper(pattern: "CN=(x?)operate, .*", setting: "X")
        #expect(empty.principal(for: try seedOperateSubject()) == nil)
    }

    @Test func defaultIsTheCommonName() throws {
        let mapper = try SubjectPrincipalMapper(pattern: nil, setting: "X")
        #expect(mapper.pattern == nil)
        #expect(mapper.principal(for: try subject("orders")) == "orders")
        #expect(mapper.principal(for: try DistinguishedName { OrganizationName("Only Org") }) == nil)
    }

    @Test(arguments: ["CN=(.*", "CN=[a-", "(?<=x", "CN=\\"])
    func invalidPatternIsRefusedNamingTheSetting(_ pattern: String) {
        expectError(.malformed, mentioning: ["CAMUNDA_MTLS_SUBJECT_PATTERN", "'\(pattern)' is not a valid regular expression"]) {
            try SubjectPrincipalMapper(pattern: pattern, setting: "CAMUNDA_MTLS_SUBJECT_PATTERN")
        }
    }

    @Test func patternWithoutGroupIsRefused() {
        expectError(.malformed, mentioning: ["SETTING_NAME", "has no capture group"]) {
            try SubjectPrincipalMapper(pattern: "CN=operate, .*", setting: "SETTING_NAME")
        }
        // Unbalanced input cannot break out of the anchoring group.
        expectError(.malformed, mentioning: ["SETTING_NAME"]) {
            try SubjectPrincipalMapper(pattern: "x)|(.*", setting: "SETTING_NAME")
        }
    }
}
