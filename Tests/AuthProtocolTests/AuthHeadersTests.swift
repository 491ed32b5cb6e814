import AuthProtocol
import Testing

/// `X-Auth-*` as RFC 8941 structured fields (docs/security-model.md): a value keeps its meaning through encoding and decoding.
struct AuthHeadersTests {
    @Test func rolesRoundTripAsAListOfStrings() throws {
        let roles = ["admin", "Reader", "ROLE_USER", "a\"quote", "back\\slash", "Jürgen", "x;y=z", "(paren)"]
        let encoded = try AuthHeaders.encodeRoles(roles)
        #expect(try AuthHeaders.decodeRoles(encoded) == roles)
        #expect(try AuthHeaders.encodeRoles(["admin", "reader"]) == #""admin", "reader""#)
        #expect(try AuthHeaders.encodeRoles([]) == "")
        #expect(try AuthHeaders.decodeRoles("") == [])
        #expect(try AuthHeaders.decodeRoles("   ") == [])
        // Tokens are accepted on reading (a gateway may write them), and duplicates collapse.
        #expect(try AuthHeaders.decodeRoles("admin, reader, admin") == ["admin", "reader"])
    }

    @Test func aRoleThatCouldBeSplitOrReadTwoWaysIsNeverEncoded() {
        for role in ["Reader,admin", "Reader admin", "tab\there", "new\nline", "", "zero\u{200B}width"] {
            #expect(throws: AuthHeaders.Problem.self, "\(role.debugDescription)") { try AuthHeaders.encodeRoles([role]) }
            #expect(RoleName.problem(role) != nil)
        }
        #expect(RoleName.problem(String(repeating: "r", count: 257)) != nil)
        #expect(RoleName.problem("operator") == nil)
    }

    @Test func decodingRefusesWhatIsNotAListOfStrings() {
        for value in [#""unterminated"#, #""a"; q=1"#, "(\"inner\" \"list\")", "1, 2", "?1", #""Reader,admin""#, "a,,b"] {
            #expect(throws: AuthHeaders.Problem.self, "\(value)") { try AuthHeaders.decodeRoles(value) }
        }
        let many = (0...AuthHeaders.maxRoles).map { "\"r\($0)\"" }.joined(separator: ", ")
        #expect(throws: AuthHeaders.Problem.self) { try AuthHeaders.decodeRoles(many) }
    }

    @Test func principalIsAnItemAndNonASCIIIsADisplayString() throws {
        #expect(try AuthHeaders.encodePrincipal("client") == #""client""#)
        #expect(try AuthHeaders.encodePrincipal("say \"hi\"") == #""say \"hi\"""#)
        let unicode = try AuthHeaders.encodePrincipal("Jürgen")
        #expect(unicode == #"%"J%c3%bcrgen""#)
        #expect(try AuthHeaders.decodePrincipal(unicode) == "Jürgen")
        #expect(try AuthHeaders.decodePrincipal("client") == "client")
        #expect(throws: AuthHeaders.Problem.self) { try AuthHeaders.decodePrincipal(#""a", "b""#) }
        #expect(throws: AuthHeaders.Problem.self) { try AuthHeaders.decodePrincipal(#""""#) }
        #expect(throws: AuthHeaders.Problem.self) { try AuthHeaders.encodePrincipal("line\nbreak") }
    }

    @Test func adminIsTheBooleanTrueOnly() throws {
        #expect(try AuthHeaders.decodeAdmin(nil) == false)
        #expect(try AuthHeaders.decodeAdmin("?1") == true)
        #expect(try AuthHeaders.decodeAdmin("?0") == false)
        for value in ["1", "true", "yes", "?1;x=1", "\"?1\""] {
            #expect(throws: AuthHeaders.Problem.self, "\(value)") { try AuthHeaders.decodeAdmin(value) }
        }
    }
}
