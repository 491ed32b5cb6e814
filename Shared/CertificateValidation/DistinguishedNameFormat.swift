import SwiftASN1
import WireFormat
import X509

/// Distinguished names as text, the way Keycloak, Java and the seed documents show them (docs/roles.md, "How DNs are
/// compared"; docs/x509-client-auth.md).
///
/// Format: RFC 4514 order (most specific first), RDNs separated by `", "` (as Java's `X500Principal.toString()` and
/// the seed's Keycloak example: `CN=operate, OU=Operate, O=Camunda, L=Berlin, ST=BE, C=DE, EMAILADDRESS=operate@camunda.com`),
/// multi-valued RDNs joined by `+`. Attribute names: CN, OU, O, L, ST, C, STREET, DC, UID, SERIALNUMBER, and
/// `EMAILADDRESS` for PKCS#9 emailAddress (Keycloak/Java spelling; OpenSSL prints `emailAddress`, swift-certificates `E`).
/// Other attributes are written as a dotted OID with the `#`-hex DER value (RFC 4514 §2.4). Values are escaped
/// as RFC 4514 §2.4 says (`, + " \ < > ;`, a leading `#` or space, a trailing space, NUL).
///
/// The spelling only matters for regex rules: roles compares DNs attribute by attribute.
public enum DistinguishedNameFormat {
    /// RFC 4514 string, most specific first, `", "` separated.
    public static func string(_ name: DistinguishedName) -> String {
        name.reversed().map { rdn in
            rdn.map { attribute in "\(key(attribute.type))=\(value(attribute))" }.joined(separator: "+")
        }.joined(separator: ", ")
    }

    /// The most specific common name (the first CN of the RFC 4514 string), or nil when there is none.
    public static func commonName(_ name: DistinguishedName) -> String? {
        for rdn in name.reversed() {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return text(attribute.value)
            }
        }
        return nil
    }

    // MARK: Attribute names and values

    static func key(_ type: ASN1ObjectIdentifier) -> String {
        knownKey(type) ?? String(describing: type)
    }

    /// The short names of the attribute types written by name (WireFormat's `DistinguishedNameAttributes`, the table
    /// roles parses with), by OID.
    static let writtenNames: [ASN1ObjectIdentifier: String] = {
        var names: [ASN1ObjectIdentifier: String] = [:]
        for entry in DistinguishedNameAttributes.all where entry.writtenByName {
            if let oid = try? ASN1ObjectIdentifier(dotRepresentation: entry.oid) { names[oid] = entry.name }
        }
        return names
    }()

    /// The short name of a well-known attribute type, nil for others.
    static func knownKey(_ type: ASN1ObjectIdentifier) -> String? {
        writtenNames[type]
    }

    static func value(_ attribute: RelativeDistinguishedName.Attribute) -> String {
        if knownKey(attribute.type) != nil, let text = text(attribute.value) {
            return escape(text)
        }
        return "#" + Hex.encode(der(ASN1Any(attribute.value)))
    }

    /// The value as text: UTF8/Printable/IA5 directly, BMP (UTF-16), Universal (UTF-32), Teletex (as Latin-1,
    /// like OpenSSL) and Visible strings decoded; nil for anything else.
    static func text(_ value: RelativeDistinguishedName.Attribute.Value) -> String? {
        if let string = String(value) { return string }
        let any = ASN1Any(value)
        if let bmp = try? ASN1BMPString(asn1Any: any) {
            let bytes = Array(bmp.bytes)
            guard bytes.count % 2 == 0 else { return nil }
            let units = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
            return String(decoding: units, as: UTF16.self)
        }
        if let universal = try? ASN1UniversalString(asn1Any: any) {
            let bytes = Array(universal.bytes)
            guard bytes.count % 4 == 0 else { return nil }
            var scalars = String.UnicodeScalarView()
            for index in stride(from: 0, to: bytes.count, by: 4) {
                let code = bytes[index..<index + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                guard let scalar = Unicode.Scalar(code) else { return nil }
                scalars.append(scalar)
            }
            return String(scalars)
        }
        if let teletex = try? ASN1TeletexString(asn1Any: any) {
            return String(String.UnicodeScalarView(teletex.bytes.map { Unicode.Scalar($0) }))
        }
        if let visible = try? ASN1VisibleString(asn1Any: any) {
            return String(decoding: visible.bytes, as: UTF8.self)
        }
        return nil
    }

    /// RFC 4514 §2.4 escaping.
    static func escape(_ value: String) -> String {
        let scalars = Array(value.unicodeScalars)
        var result = ""
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case ",", "+", "\"", "\\", "<", ">", ";":
                result += "\\" + String(scalar)
            case "#" where index == 0, " " where index == 0 || index == scalars.count - 1:
                result += "\\" + String(scalar)
            case "\u{0}":
                result += "\\00"
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    static func der(_ any: ASN1Any) -> [UInt8] {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(any)
        } catch {
            return []
        }
        return serializer.serializedBytes
    }

}
