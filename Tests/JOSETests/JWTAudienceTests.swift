import Foundation
import JOSE
import Testing

/// `aud` is one string or an array of strings (RFC 7519 section 4.1.3); the emulator's assertion and federated-token
/// claims and token-issuer's federated token file read it through this one type.
@Suite struct JWTAudienceTests {
    struct Claims: Codable { var aud: JWTAudience? }

    private func read(_ json: String) throws -> JWTAudience? {
        try JSONDecoder().decode(Claims.self, from: Data(json.utf8)).aud
    }

    @Test func oneStringOrAnArrayOfStrings() throws {
        #expect(try read(#"{"aud":"api://x"}"#)?.values == ["api://x"])
        #expect(try read(#"{"aud":["a","b"]}"#)?.values == ["a", "b"])
        #expect(try read(#"{"aud":[]}"#)?.values == [])
        #expect(try read(#"{}"#) == nil)
    }

    @Test func anythingElseIsAnErrorNotAnEmptyList() {
        for json in [#"{"aud":42}"#, #"{"aud":["a",1]}"#, #"{"aud":{"x":"y"}}"#, #"{"aud":true}"#] {
            #expect(throws: DecodingError.self, "\(json)") { try read(json) }
        }
    }

    @Test func writesOneAudienceAsAString() throws {
        let one = String(decoding: try JSONEncoder().encode(Claims(aud: JWTAudience(["a"]))), as: UTF8.self)
        let two = String(decoding: try JSONEncoder().encode(Claims(aud: JWTAudience(["a", "b"]))), as: UTF8.self)
        #expect(one == #"{"aud":"a"}"#)
        #expect(two == #"{"aud":["a","b"]}"#)
    }
}
