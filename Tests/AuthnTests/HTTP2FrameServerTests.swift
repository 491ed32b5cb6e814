import HTTPTypes
import NIOHPACK
import Testing

@testable import ServiceSupport

/// The pieces of the services' HTTP/2 server that are plain functions. The server itself is exercised from the wire by
/// every in-process live test (AsyncHTTPClient negotiates h2) and by `Tests/Interop/test_h2.py` (hyper-h2: bodies in
/// many frames, trailers, flow control, 413, resets, GOAWAY).
@Suite struct HTTP2FrameServerTests {
    @Test func requestHeadFromAHeadersBlock() throws {
        let block: HPACKHeaders = [
            ":method": "POST", ":scheme": "https", ":authority": "roles:8445", ":path": "/v1/resolve?x=1",
            "content-type": "application/json", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "x-repeated": "a", "x-repeated": "b",
        ]
        let head = try #require(HTTP2RequestHandler.request(from: block))
        #expect(head.method == .post)
        #expect(head.scheme == "https")
        #expect(head.authority == "roles:8445")
        #expect(head.path == "/v1/resolve?x=1")
        #expect(head.headerFields[.contentType] == "application/json")
        #expect(head.headerFields[values: HTTPField.Name("x-repeated")!] == ["a", "b"])
        #expect(!head.headerFields.contains { $0.name.rawName.hasPrefix(":") })
    }

    @Test(arguments: [
        [":method": "GET", ":scheme": "https"] as HPACKHeaders,  // no :path
        [":scheme": "https", ":path": "/"],  // no :method
        [":method": "G E T", ":scheme": "https", ":path": "/"],  // not a token
        [":method": "GET", ":scheme": "https", ":path": ""],
    ])
    func malformedHeadsAreRefused(block: HPACKHeaders) {
        #expect(HTTP2RequestHandler.request(from: block) == nil)
    }

    @Test func dateHeaderIsAnIMFFixdate() {
        // RFC 9110 section 5.6.7's example.
        #expect(HTTPDate.format(epochSecond: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(epochSecond: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        // Leap days and century years (values from Python's time.gmtime).
        #expect(HTTPDate.format(epochSecond: 1_709_208_000) == "Thu, 29 Feb 2024 12:00:00 GMT")
        #expect(HTTPDate.format(epochSecond: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate.format(epochSecond: 4_107_542_400) == "Mon, 01 Mar 2100 00:00:00 GMT")
        #expect(HTTPDate.format(epochSecond: 1_795_392_000) == "Mon, 23 Nov 2026 00:00:00 GMT")
        #expect(HTTPDate.now().hasSuffix(" GMT"))
        #expect(HTTPDate.now().count == 29)
    }
}
