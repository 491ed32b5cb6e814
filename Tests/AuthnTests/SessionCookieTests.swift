import HTTPTypes
import Testing

@testable import Authn

/// authn reads its session cookie through Hummingbird's `Cookies` (issue 20 item 3: a kept library's codec, not ours),
/// with the reading it had: the first cookie of that name, exact names, surrounding white space dropped, empty = none.
@Suite struct SessionCookieTests {
    @Test(arguments: [
        (["sid=abc"], "abc"),
        (["theme=dark; sid=abc; other=1"], "abc"),
        (["  sid=abc  "], "abc"),
        (["theme=dark", "sid=abc"], "abc"),
        (["sid=first; sid=second"], "first"),
        (["sidx=1; xsid=2"], nil),
        (["SID=abc"], nil),
        (["sid="], nil),
        (["sid"], nil),
        (["sid=a=b"], "a=b"),
        ([], nil),
    ] as [([String], String?)])
    func theSessionCookieIsReadAsBefore(fields: [String], expected: String?) {
        var headers = HTTPFields()
        for field in fields { headers.append(HTTPField(name: .cookie, value: field)) }
        #expect(AuthnRoutes.cookie(named: "sid", in: headers) == expected)
    }
}
