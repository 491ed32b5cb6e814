import CertificateValidation
import Roles
import SwiftASN1
import Testing
import WireFormat
import X509

/// authn writes subjects with CertificateValidation's `DistinguishedNameFormat`; roles reads subjects and rules with
/// its `DistinguishedName`. One attribute table (WireFormat's `DistinguishedNameAttributes`) is behind both.
@Suite struct DistinguishedNameAttributeTests {
    /// Every spelling of every attribute (short name in any case, alias, dotted OID, `OID.` form) reads as the one
    /// short name.
    @Test func everySpellingReadsAsTheShortName() throws {
        for entry in DistinguishedNameAttributes.all {
            for spelling in [entry.name, entry.name.lowercased(), entry.oid, "OID." + entry.oid, "oid." + entry.oid] + entry.aliases {
                let parsed = try Roles.DistinguishedName(parsing: "\(spelling)=x")
                #expect(parsed.rdns.map { $0.map(\.type) } == [[entry.name]], "\(spelling)")
                #expect(parsed.rdns.map { $0.map(\.value) } == [["x"]], "\(spelling)")
            }
        }
    }

    /// A subject with every attribute authn writes by name reads back in roles as the same attributes and values.
    @Test func whatAuthnWritesRolesReadsAsTheSameAttributes() throws {
        let written = DistinguishedNameAttributes.all.filter(\.writtenByName)
        var rdns: [RelativeDistinguishedName] = []
        for entry in written {
            let type = try ASN1ObjectIdentifier(dotRepresentation: entry.oid)
            rdns.append(RelativeDistinguishedName(RelativeDistinguishedName.Attribute(type: type, utf8String: "v \(entry.name), +")))
        }
        let text = DistinguishedNameFormat.string(X509.DistinguishedName(rdns))
        let read = try Roles.DistinguishedName(parsing: text)
        let pairs = read.rdns.flatMap { $0 }.map { "\($0.type)=\($0.value)" }
        #expect(pairs == written.reversed().map { "\($0.name)=v \($0.name), +" }, "\(text)")
    }
}
