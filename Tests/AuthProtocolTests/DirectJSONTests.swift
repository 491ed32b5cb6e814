import AuthProtocol
import Foundation
import Testing
import WireFormat

/// The hot answers write their own JSON (`DirectJSONEncodable`); it must be byte for byte what `JSONEncoder` with the
/// suite's settings writes, for awkward strings too.
@Suite struct DirectJSONTests {
    static let awkward = [
        "", "plain", "quote \" and backslash \\", "slash / stays", "tab\tnew\nline\rcr", "\u{08}\u{0C}\u{00}\u{1F}\u{7F}",
        "ünïcødé 東京 🙂", "emoji 👩‍💻 joined", "</script>", "\u{2028}\u{2029}",
        // Escapes at the ends of the unescaped runs the writer copies whole.
        "\"leading", "trailing\\", "\n", "a\u{01}b\u{1F}c\"d\\\\e", String(repeating: "eyJhbGciOi", count: 200),
    ]

    func encoder(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    @Test func principalResponseMatchesJSONEncoder() throws {
        for text in Self.awkward {
            for method in [AuthenticationMethod.oidc, .mtls, .session] {
                let full = PrincipalResponse(
                    principal: text, authenticationMethod: method, clientID: "client \(text)", tenantID: text,
                    roles: [text, "Admin"], authorities: [], expiresAt: "2026-11-23T16:00:00Z")
                #expect(full.directJSON == (try encoder(full)), "\(String(decoding: full.directJSON, as: UTF8.self))")
                let sparse = PrincipalResponse(principal: text, authenticationMethod: method, roles: [], authorities: [text])
                #expect(sparse.directJSON == (try encoder(sparse)), "\(String(decoding: sparse.directJSON, as: UTF8.self))")
            }
        }
    }

    @Test func tokenAndResolveResponsesMatchJSONEncoder() throws {
        for text in Self.awkward {
            for seconds in [0, 1, 3599, -5, Int.max, Int.min] {
                let token = TokenResponse(accessToken: "eyJ.\(text)", expiresIn: seconds, expiresAt: text, scope: "api://x/.default \(text)")
                #expect(token.directJSON == (try encoder(token)), "\(String(decoding: token.directJSON, as: UTF8.self))")
            }
            let resolved = ResolveResponse(roles: [text, "b"], mappingRules: [])
            #expect(resolved.directJSON == (try encoder(resolved)))
            let empty = ResolveResponse(roles: [], mappingRules: [text])
            #expect(empty.directJSON == (try encoder(empty)))
        }
    }
}
