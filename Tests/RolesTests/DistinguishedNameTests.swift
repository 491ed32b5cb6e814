import Roles
import Testing

@Suite struct DistinguishedNameTests {
    static let seedSubject = "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com"

    @Test(arguments: [
        "CN=operate,OU=Operate,O=Camunda,L=Berlin,ST=BE,C=DE,EMAILADDRESS=operate@camunda.com",
        "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, emailAddress=operate@camunda.com",
        "cn=operate ,  ou=Operate,o=Camunda,l=Berlin,st=BE,c=DE,E=operate@camunda.com",
        "CN = operate, OU = Operate, O = Camunda, L = Berlin, ST = BE, C = DE, EMAIL = operate@camunda.com",
        "2.5.4.3=operate,OU=Operate,O=Camunda,L=Berlin,S=BE,C=DE,1.2.840.113549.1.9.1=operate@camunda.com",
        "OID.2.5.4.3=operate;OU=Operate;O=Camunda;L=Berlin;ST=BE;C=DE;EMAILADDRESS=operate@camunda.com",
        "CN=\\6Fperate,OU=Operate,O=Camunda,L=Berlin,ST=BE,C=DE,EMAILADDRESS=\"operate@camunda.com\"",
    ])
    func spellingsOfTheSeedSubjectAreEqual(_ text: String) throws {
        let reference = try DistinguishedName(parsing: Self.seedSubject)
        let other = try DistinguishedName(parsing: text)
        #expect(other == reference)
        #expect(other.canonical == reference.canonical)
        #expect(other.description == Self.seedSubject)
    }

    @Test(arguments: [
        ("CN=operate, OU=Operate", "CN=Operate, OU=Operate"),  // values are compared exactly
        ("CN=operate, OU=Operate", "OU=Operate, CN=operate"),  // RDN order matters
        ("CN=operate, OU=Operate", "CN=operate"),
        ("CN=a\\ ", "CN=a"),  // an escaped trailing space is part of the value
    ])
    func differentNamesDiffer(_ left: String, _ right: String) throws {
        #expect(try DistinguishedName(parsing: left) != DistinguishedName(parsing: right))
    }

    @Test func escapesAndMultiValuedRDNs() throws {
        let dn = try DistinguishedName(parsing: #"CN=Doe\, John+UID=jd, O=Acme \"Labs\", OU=R\2BD, L=Z\C3\BCrich"#)
        #expect(dn.rdns.count == 4)
        #expect(dn.rdns[0].map(\.value) == ["Doe, John", "jd"])
        #expect(dn.rdns[1][0].value == "Acme \"Labs\"")
        #expect(dn.rdns[2][0].value == "R+D")
        #expect(dn.rdns[3][0].value == "Zürich")
        // Multi-valued RDNs are a set: the order inside the RDN does not matter.
        #expect(try DistinguishedName(parsing: #"UID=jd+CN=Doe\, John,O=Acme \"Labs\",OU=R\+D,L=Zürich"#) == dn)
        // The canonical form parses back to the same name.
        #expect(try DistinguishedName(parsing: dn.canonical) == dn)
    }

    @Test(arguments: ["", "   ", "CN", "=x", "CN=a,", "CN=a,,OU=b", "CN=a\\", "CN=a\\x", "CN=\"open", "C N=a", "CN=a<b", "CN=#abc"])
    func malformedNamesAreRefused(_ text: String) {
        #expect(throws: DistinguishedName.ParseError.self) { try DistinguishedName(parsing: text) }
    }

    @Test func opensslOrderIsRecognised() throws {
        let openssl = try DistinguishedName(parsing: "C=DE, ST=BE, L=Berlin, O=Camunda, OU=Operate, CN=operate")
        #expect(openssl.looksReversed)
        #expect(openssl.reversed == (try DistinguishedName(parsing: "CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE")))
        #expect(!(try DistinguishedName(parsing: Self.seedSubject)).looksReversed)
    }
}
