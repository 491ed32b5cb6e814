import AuthProtocol
import HTTPTypes
import Hummingbird
import ServiceSupport
import Testing

/// `WWW-Authenticate` carries error descriptions that come from outside (Entra's `error_description` has `\r\n`,
/// quotes and Unicode); every challenge goes through one sanitizer (issue 20 item 4), and the token-issuer's OAuth
/// errors used to replace only the double quote.
@Suite struct QuotedStringTests {
    static let hostile = "AADSTS700027: Client assertion failed.\r\nTrace ID: 1\r\n\"x\" \\ é\u{7F}\u{0}"

    @Test func keepsOnlyPrintableASCIIWithoutQuotesOrBackslashes() {
        let sanitized = HTTPQuotedString.sanitized(Self.hostile)
        #expect(sanitized == "AADSTS700027: Client assertion failed.  Trace ID: 1  'x' '    ")
        #expect(sanitized.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value <= 0x7E && $0 != "\"" && $0 != "\\" })
        #expect(HTTPQuotedString.sanitized(String(repeating: "a", count: 400)) == String(repeating: "a", count: 400))
        #expect(HTTPQuotedString.sanitized(String(repeating: "a", count: 401)) == String(repeating: "a", count: 400) + "...")
    }

    @Test func anOAuthErrorChallengeIsOneWellFormedHeaderValue() throws {
        let response = JSONResponse.oauthError(
            .unauthorized, OAuthErrorResponse(error: "invalid_client\"", errorDescription: Self.hostile))
        let challenge = try #require(response.headers[.wwwAuthenticate])
        #expect(challenge.hasPrefix("Bearer error=\"invalid_client'\", error_description=\"AADSTS700027: Client assertion failed."))
        #expect(!challenge.contains("\r") && !challenge.contains("\n"))
        // Exactly the four quotes that delimit the two parameters.
        #expect(challenge.filter { $0 == "\"" }.count == 4, "\(challenge)")
    }
}
