/// The attribute types of X.500 distinguished names by name (RFC 4514 §3, RFC 4519, RFC 4524, PKCS #9): the one table
/// that both CertificateValidation's DN writer (`DistinguishedNameFormat`) and roles' DN parser (`DistinguishedName`)
/// use, so a subject written by authn and a rule read by roles name an attribute the same way.
public enum DistinguishedNameAttributes {
    /// One attribute type.
    public struct Entry: Sendable, Equatable {
        /// The short name written and compared (`CN`, `EMAILADDRESS`): Keycloak's and Java's spelling.
        public var name: String
        /// Other spellings read as the same attribute, upper case (`COMMONNAME`; `E` and `EMAIL` for email).
        public var aliases: [String]
        /// The dotted OID.
        public var oid: String
        /// Whether the DN writer spells it by `name` with its value as text; the others are written as the dotted
        /// OID with the `#`-hex DER value (RFC 4514 §2.4).
        public var writtenByName: Bool
    }

    /// Every attribute type known by name.
    public static let all: [Entry] = [
        Entry(name: "CN", aliases: ["COMMONNAME"], oid: "2.5.4.3", writtenByName: true),
        Entry(name: "SN", aliases: ["SURNAME"], oid: "2.5.4.4", writtenByName: false),
        Entry(name: "SERIALNUMBER", aliases: [], oid: "2.5.4.5", writtenByName: true),
        Entry(name: "C", aliases: ["COUNTRYNAME"], oid: "2.5.4.6", writtenByName: true),
        Entry(name: "L", aliases: ["LOCALITYNAME"], oid: "2.5.4.7", writtenByName: true),
        Entry(name: "ST", aliases: ["S", "STATEORPROVINCENAME"], oid: "2.5.4.8", writtenByName: true),
        Entry(name: "STREET", aliases: ["STREETADDRESS"], oid: "2.5.4.9", writtenByName: true),
        Entry(name: "O", aliases: ["ORGANIZATIONNAME"], oid: "2.5.4.10", writtenByName: true),
        Entry(name: "OU", aliases: ["ORGANIZATIONALUNITNAME"], oid: "2.5.4.11", writtenByName: true),
        Entry(name: "TITLE", aliases: ["T"], oid: "2.5.4.12", writtenByName: false),
        Entry(name: "BUSINESSCATEGORY", aliases: [], oid: "2.5.4.15", writtenByName: false),
        Entry(name: "POSTALCODE", aliases: [], oid: "2.5.4.17", writtenByName: false),
        Entry(name: "GIVENNAME", aliases: ["GN", "G"], oid: "2.5.4.42", writtenByName: false),
        Entry(name: "INITIALS", aliases: [], oid: "2.5.4.43", writtenByName: false),
        Entry(name: "GENERATIONQUALIFIER", aliases: [], oid: "2.5.4.44", writtenByName: false),
        Entry(name: "DNQUALIFIER", aliases: [], oid: "2.5.4.46", writtenByName: false),
        Entry(name: "PSEUDONYM", aliases: [], oid: "2.5.4.65", writtenByName: false),
        Entry(name: "ORGANIZATIONIDENTIFIER", aliases: [], oid: "2.5.4.97", writtenByName: false),
        Entry(name: "DC", aliases: ["DOMAINCOMPONENT"], oid: "0.9.2342.19200300.100.1.25", writtenByName: true),
        Entry(name: "UID", aliases: ["USERID"], oid: "0.9.2342.19200300.100.1.1", writtenByName: true),
        Entry(name: "EMAILADDRESS", aliases: ["E", "EMAIL"], oid: "1.2.840.113549.1.9.1", writtenByName: true),
    ]

    /// The short name by any spelling (upper case) or dotted OID.
    public static let canonicalNames: [String: String] = {
        var map: [String: String] = [:]
        for entry in all {
            map[entry.name] = entry.name
            for alias in entry.aliases { map[alias] = entry.name }
            map[entry.oid] = entry.name
        }
        return map
    }()
}
