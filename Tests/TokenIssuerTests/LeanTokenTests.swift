import AuthProtocol
import Foundation
import NIOCore
import Testing

@testable import TokenIssuer
import WireFormat

/// The lean path's token answer is encoded once around `expires_in` (issue 16 item 2): the same bytes as the route's.
@Suite struct LeanTokenTests {
    @Test(arguments: ["eyJ0eXAiOiJKV1QifQ.e30.c2ln", #"odd "quoted" \ token"#, #","expires_in":0,"#])
    func theBodyIsTheRoutesJSONAtEveryMoment(token: String) {
        let now = ContinuousClock.now
        let cached = CachedToken(
            token: token, scope: "api://x/.default", expiresAt: now + .seconds(3600), refreshAt: now + .seconds(3300),
            expiresAtDate: Date().addingTimeInterval(3600))
        let lean = LeanToken(token: cached, scope: "api://x/.default", handOut: .init(kind: "token", caller: "app", scope: "api://x/.default"))
        for offset in [0.0, 1.5, 59, 3599, 7200] {
            let at = Date().addingTimeInterval(offset)
            #expect(Array(lean.body(now: at).readableBytesView) == LeanToken.response(cached, scope: "api://x/.default", now: at).directJSON)
        }
    }
}
