@testable import Roles
import AuthProtocol
import Foundation
import Testing
import WireFormat

/// `ResolveRequest(json:)` (the fast path of roles' `/v1/resolve`) reads bodies exactly as `JSONDecoder` does.
@Suite struct ResolveRequestParsingTests {
    @Test(arguments: [
        #"{"claims":{"iss":"https://login.microsoftonline.com/t/v2.0","aud":"api","exp":1900000000,"nbf":1.5,"roles":["Admin","Reader"],"ok":true,"no":false,"none":null,"cnf":{"x5t#S256":"abc"},"mixed":[1,"a",false,null,{"k":[]}]}}"#,
        #"{"certificate_subject":"CN=client, O=CertAuth dev"}"#,
        #"{"claims":{"groups":["g1"]},"certificate_subject":"CN=a","extra":[1,2]}"#,
        #"{"claims":null,"certificate_subject":null}"#,
        #"{}"#,
        #"{"certificate_subject":"CN=a","certificate_sans":["DNS:a.example","URI:spiffe://t/x"],"certificate_issuer_spki_sha256":"ab"}"#,
        #"{"certificate_sans":null,"certificate_issuer_spki_sha256":null}"#,
        #"{"claims":{"big":12345678901234,"neg":-3,"exp10":1e3,"unicode":"h\u00e9 \ud83d\ude00","esc":"a\/b\"c"}}"#,
    ])
    func sameAsJSONDecoder(_ body: String) throws {
        let data = Data(body.utf8)
        let decoded = try JSONDecoder().decode(ResolveRequest.self, from: data)
        #expect(ResolveRequest(json: data) == decoded)
    }

    @Test(arguments: [
        #"[]"#, #""claims""#, #"{"claims":[]}"#, #"{"claims":"x"}"#, #"{"certificate_subject":5}"#,
        #"{"certificate_subject":["CN=a"]}"#, #"{"claims":{"a":1}"#, "", "not json",
        #"{"certificate_sans":"DNS:a"}"#, #"{"certificate_sans":[1]}"#, #"{"certificate_issuer_spki_sha256":1}"#,
    ])
    func refusedAsJSONDecoderRefuses(_ body: String) {
        let data = Data(body.utf8)
        #expect((try? JSONDecoder().decode(ResolveRequest.self, from: data)) == nil)
        #expect(ResolveRequest(json: data) == nil)
    }

    @Test func booleansStayBooleansAndNumbersStayNumbers() {
        let parsed = JSONValue.fromJSON(Data(#"{"t":true,"f":false,"one":1,"zero":0}"#.utf8))
        #expect(parsed == .object(["t": .bool(true), "f": .bool(false), "one": .number(1), "zero": .number(0)]))
    }
}
