import SwiftASN1
import Testing
import X509

@testable import CertificateValidation

/// The DN writer spells exactly these attributes by name (the table it had before WireFormat's
/// `DistinguishedNameAttributes` became the one table); every other attribute is written as its OID with the DER value.
@Suite struct DistinguishedNameFormatTests {
    static let formerNames = [
        "2.5.4.3": "CN", "2.5.4.11": "OU", "2.5.4.10": "O", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.6": "C",
        "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "1.2.840.113549.1.9.1": "EMAILADDRESS",
        "0.9.2342.19200300.100.1.1": "UID", "2.5.4.5": "SERIALNUMBER",
    ]

    @Test func theAttributesWrittenByNameAreTheFormerOnes() throws {
        var names: [String: String] = [:]
        for (oid, name) in DistinguishedNameFormat.writtenNames { names[String(describing: oid)] = name }
        #expect(names == Self.formerNames)
        for (oid, name) in Self.formerNames {
            let type = try ASN1ObjectIdentifier(dotRepresentation: oid)
            let subject = X509.DistinguishedName([RelativeDistinguishedName(RelativeDistinguishedName.Attribute(type: type, utf8String: "v"))])
            #expect(DistinguishedNameFormat.string(subject) == "\(name)=v")
        }
        let surname = X509.DistinguishedName([RelativeDistinguishedName(
            RelativeDistinguishedName.Attribute(type: try ASN1ObjectIdentifier(dotRepresentation: "2.5.4.4"), utf8String: "v"))])
        #expect(DistinguishedNameFormat.string(surname) == "2.5.4.4=#0c0176")
    }
}
