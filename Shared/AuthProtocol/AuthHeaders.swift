import RawStructuredFieldValues

/// The one encoding of the caller that authn passes on, to roles (`/v2/**`) and to gateways (`/v1/forward-auth`):
/// RFC 8941 structured fields (docs/security-model.md, "What each service trusts"), so that no value can change meaning when it is joined, split or
/// re-encoded on the way. `X-Auth-Principal` is an Item (a String; a Display String, RFC 9651, when the name is not
/// ASCII), `X-Auth-Roles` a List of Strings (Tokens and Display Strings also accepted when read), `X-Auth-Admin: ?1`
/// when authn has decided the caller is an admin.
public enum AuthHeaders {
    /// Why a header value could not be read or written; the message names the header.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// The longest principal and role value the protocol carries (characters).
    public static let maxValueLength = 256
    /// The most roles one caller carries.
    public static let maxRoles = 256

    // MARK: Writing

    /// `X-Auth-Roles`: a List of Strings. Every role must be a ``RoleName``; the empty list is the empty field value.
    public static func encodeRoles(_ roles: [String]) throws(Problem) -> String {
        var members: [ItemOrInnerList] = []
        members.reserveCapacity(roles.count)
        for role in roles {
            if let problem = RoleName.problem(role) {
                throw Problem("role '\(RoleName.shown(role))' cannot be sent in \(ProtocolHeader.authRoles): it \(problem)")
            }
            members.append(.item(Item(bareItem: bareString(role), parameters: [:])))
        }
        var serializer = StructuredFieldValueSerializer()
        do {
            return String(decoding: try serializer.writeListFieldValue(members), as: UTF8.self)
        } catch {
            throw Problem("\(ProtocolHeader.authRoles) could not be encoded: \(error)")
        }
    }

    /// `X-Auth-Principal`: an Item holding a String.
    public static func encodePrincipal(_ principal: String) throws(Problem) -> String {
        guard !principal.isEmpty, principal.count <= maxValueLength,
              !principal.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Problem("the principal is empty, longer than \(maxValueLength) characters or holds a control character")
        }
        var serializer = StructuredFieldValueSerializer()
        do {
            let bytes = try serializer.writeItemFieldValue(Item(bareItem: bareString(principal), parameters: [:]))
            return String(decoding: bytes, as: UTF8.self)
        } catch {
            throw Problem("\(ProtocolHeader.authPrincipal) could not be encoded: \(error)")
        }
    }

    /// The value of `X-Auth-Admin` for an admin (the header is left out otherwise).
    public static let adminTrue = "?1"

    private static func bareString(_ value: String) -> RFC9651BareItem {
        value.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) }) ? .string(value) : .displayString(value)
    }

    // MARK: Reading

    /// Reads `X-Auth-Roles`. A field that is not a List of Strings/Tokens, or holds a value that is not a
    /// ``RoleName``, is refused whole: a receiver never guesses.
    public static func decodeRoles(_ fieldValue: String) throws(Problem) -> [String] {
        let bytes = Array(fieldValue.utf8)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return [] }
        var parser = StructuredFieldValueParser(bytes)
        let members: [ItemOrInnerList]
        do {
            members = try parser.parseListFieldValue()
        } catch {
            throw Problem("\(ProtocolHeader.authRoles) is not an RFC 8941 List of Strings (\(error)); e.g. \"admin\", \"reader\"")
        }
        guard members.count <= maxRoles else {
            throw Problem("\(ProtocolHeader.authRoles) holds more than \(maxRoles) roles")
        }
        var roles: [String] = []
        for member in members {
            guard case .item(let item) = member, item.rfc9651Parameters.isEmpty, let role = text(item.rfc9651BareItem) else {
                throw Problem("\(ProtocolHeader.authRoles) members must be Strings without parameters; e.g. \"admin\", \"reader\"")
            }
            if let problem = RoleName.problem(role) {
                throw Problem("\(ProtocolHeader.authRoles) holds the role '\(RoleName.shown(role))', which \(problem)")
            }
            if !roles.contains(role) { roles.append(role) }
        }
        return roles
    }

    /// Reads `X-Auth-Principal` (an Item holding a String, Token or Display String).
    public static func decodePrincipal(_ fieldValue: String) throws(Problem) -> String {
        var parser = StructuredFieldValueParser(Array(fieldValue.utf8))
        let item: Item
        do {
            item = try parser.parseItemFieldValue()
        } catch {
            throw Problem("\(ProtocolHeader.authPrincipal) is not an RFC 8941 String item (\(error)); e.g. \"client\"")
        }
        guard item.rfc9651Parameters.isEmpty, let principal = text(item.rfc9651BareItem), !principal.isEmpty,
              principal.count <= maxValueLength,
              !principal.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Problem("\(ProtocolHeader.authPrincipal) must be a non-empty String of at most \(maxValueLength) characters")
        }
        return principal
    }

    /// Reads `X-Auth-Admin`: true only for the Boolean `?1`; absent is false; anything else is refused.
    public static func decodeAdmin(_ fieldValue: String?) throws(Problem) -> Bool {
        guard let fieldValue else { return false }
        var parser = StructuredFieldValueParser(Array(fieldValue.utf8))
        guard let item = try? parser.parseItemFieldValue(), item.rfc9651Parameters.isEmpty,
              case .bool(let value) = item.rfc9651BareItem else {
            throw Problem("\(ProtocolHeader.authAdmin) must be the Boolean ?1 or ?0")
        }
        return value
    }

    private static func text(_ item: RFC9651BareItem) -> String? {
        switch item {
        case .string(let value), .token(let value), .displayString(let value): value
        default: nil
        }
    }
}

/// What a role name may hold, wherever it is read (a token's role claims, a mapping rule, a setting, a header): no
/// `,`, no white space, no control characters, at most ``AuthHeaders/maxValueLength`` characters. A role is one
/// value in every encoding the suite or a gateway uses.
public enum RoleName {
    /// Why `value` cannot be a role, or nil.
    public static func problem(_ value: String) -> String? {
        if value.isEmpty { return "is empty" }
        // Fast path for the usual role (visible ASCII without ','): checked on every authenticated request.
        if value.utf8.count <= AuthHeaders.maxValueLength,
           value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }) {
            return nil
        }
        if value.count > AuthHeaders.maxValueLength { return "is longer than \(AuthHeaders.maxValueLength) characters" }
        for scalar in value.unicodeScalars {
            if scalar == "," { return "contains ','" }
            if scalar.properties.isWhitespace { return "contains white space" }
            if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format {
                return "contains a control character"
            }
        }
        return nil
    }

    /// `value` for a log line or a message: control characters shown as `\u{…}`, at most 64 characters.
    public static func shown(_ value: String) -> String {
        var result = ""
        for scalar in value.unicodeScalars.prefix(64) {
            if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return value.unicodeScalars.count > 64 ? result + "…" : result
    }
}
