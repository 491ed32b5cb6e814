import Foundation
import Testing

@testable import TokenIssuer

/// The request's scope is trimmed as Foundation's `.whitespaces` trims it, the usual case without Foundation.
@Suite struct ScopeTrimTests {
    @Test(arguments: [
        "api://x/.default", " api://x/.default", "api://x/.default\t", "\u{00A0}api://x/.default\u{2003}", "", " ", "\t \t",
        "a", "é/.default", "x/.default é", "\u{2009}", "two scopes/.default other/.default",
    ])
    func sameAsFoundation(_ scope: String) {
        #expect(TokenIssuerRoutes.trimmed(scope) == scope.trimmingCharacters(in: .whitespaces))
    }
}
