@testable import Authn
import Foundation
import Testing

/// The UTF-8 trim of the bearer token gives what `trimmingCharacters(in: .whitespaces)` gave for header values.
@Suite struct BearerTokenTests {
    @Test(arguments: ["abc.def.ghi", "  abc.def.ghi", "abc.def.ghi \t", "\t a.b.c  ", "", "   ", "a b", "é.ü.ß ", " \u{1F600}"])
    func sameAsFoundationForSpacesAndTabs(_ value: String) {
        let substring = Substring(value)
        #expect(BearerToken.trimmed(substring) == substring.trimmingCharacters(in: .whitespaces))
    }
}
