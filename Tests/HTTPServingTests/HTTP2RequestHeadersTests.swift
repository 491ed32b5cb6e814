import HTTPTypes
import NIOCore
import Testing

@testable import HTTPServing

/// Request header fields kept as bytes for the lean path (issue 16 item 2), and the same fields for the router.
@Suite struct HTTP2RequestHeadersTests {
    static let sample: HTTPFields = [
        .authorization: "Bearer abc", .cookie: "a=1", HTTPField.Name("x-a")!: "1", HTTPField.Name("x-a")!: "2",
    ]

    @Test func readsFieldsAsBytesByLowerCaseName() {
        let headers = HTTP2RequestHeaders(Self.sample)
        #expect(headers.count == 4)
        #expect(headers.first("authorization").map { Array($0) } == Array("Bearer abc".utf8))
        #expect(headers.string("cookie") == "a=1")
        #expect(headers.string("x-a") == "1")
        #expect(headers.count(of: "x-a") == 2)
        #expect(headers.count(of: "x-b") == 0)
        #expect(!headers.contains("authorizatio"))
        #expect(!headers.contains("x-ssl-client-cert"))
    }

    @Test func givesTheRouterTheSameFieldsInOrder() {
        let headers = HTTP2RequestHeaders(Self.sample)
        #expect(headers.fields == Self.sample)
        #expect(HTTP2RequestHeaders().fields.isEmpty)
    }

    @Test func aRequestKeepsItsTargetAndSplitsTheQuery() {
        let request = HTTP2ServedRequest(
            method: .get, scheme: "https", authority: "authn", path: "/v1/forward-auth?x=1", headers: .init(Self.sample),
            body: .init())
        #expect(request.pathWithoutQuery == "/v1/forward-auth")
        #expect(request.head.path == "/v1/forward-auth?x=1")
        #expect(request.head.headerFields == Self.sample)
    }
}
