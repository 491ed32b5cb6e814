@testable import Authn
import HTTPTypes
import Testing

/// authn decides read or write per route (method + pattern), on exactly the target it forwards.
struct ManagementAPITests {
    @Test func accessIsDecidedByMethodAndRoutePatternNeverBySuffix() {
        #expect(ManagementAPI.access(method: .post, path: "/v2/roles/search") == .read)
        #expect(ManagementAPI.access(method: .post, path: "/v2/mapping-rules/search") == .read)
        #expect(ManagementAPI.access(method: .post, path: "/v2/roles/operator/mapping-rules/search") == .read)
        #expect(ManagementAPI.access(method: .get, path: "/v2/roles/operator") == .read)
        #expect(ManagementAPI.access(method: .get, path: "/v2/mapping-rules/search") == .read, "the rule whose id is 'search'")
        #expect(ManagementAPI.access(method: .post, path: "/v2/roles") == .write)
        #expect(ManagementAPI.access(method: .put, path: "/v2/mapping-rules/search") == .write)
        #expect(ManagementAPI.access(method: .delete, path: "/v2/roles/search") == .write)
        #expect(ManagementAPI.access(method: .put, path: "/v2/roles/operator/mapping-rules/search") == .write)
        #expect(ManagementAPI.access(method: .get, path: "/v2/audit-log") == .audit)
        // A suffix does not make a read, and routes roles does not serve are not forwarded at all.
        #expect(ManagementAPI.access(method: .post, path: "/v2/roles/x/search") == nil)
        #expect(ManagementAPI.access(method: .post, path: "/v2/whatever/search") == nil)
        #expect(ManagementAPI.access(method: .patch, path: "/v2/roles/operator") == nil)
        #expect(ManagementAPI.access(method: .get, path: "/v2/audit-log/x") == nil)
    }

    @Test func targetsThatCouldBeReadTwoWaysAreRefused() {
        for target in [
            "/v2/roles#/search", "/v2/roles/../audit-log", "/v2/roles/./x", "/v2//roles", "/v2/roles/", "/v2/roles/a%2Fb",
            "/v2/roles/a%2fb", "/v2/roles/a%5Cb", "/v2/roles\\x", "/v2/roles/%2e%2e", "/v2/roles/%2E", "/v2/roles/a%00",
            "/v2/roles/a%1f", "/v2/roles/a%7F", "/v2/roles/a\u{1}", "/v2/roles/a b", "/v2/roles/%zz", "/v2/roles/%2",
            "https://evil/v2/roles", "/v2/roles/ä", "/v2/audit-log?limit=1%00",
        ] {
            guard case .failure = ManagementAPI.checkTarget(target) else {
                Issue.record("\(target.debugDescription) was accepted")
                continue
            }
        }
    }

    @Test func ordinaryTargetsPassUnchanged() throws {
        let plain = try ManagementAPI.checkTarget("/v2/roles/search").get()
        #expect(plain.path == "/v2/roles/search")
        #expect(plain.query == nil)
        let encoded = try ManagementAPI.checkTarget("/v2/mapping-rules/caf%C3%A9~x").get()
        #expect(encoded.path == "/v2/mapping-rules/caf%C3%A9~x")
        let query = try ManagementAPI.checkTarget("/v2/audit-log?limit=10&before=5").get()
        #expect(query.path == "/v2/audit-log")
        #expect(query.query == "limit=10&before=5")
        let slashInQuery = try ManagementAPI.checkTarget("/v2/audit-log?x=a%2Fb").get()
        #expect(slashInQuery.query == "x=a%2Fb", "an encoded / in the query changes no path")
    }
}
