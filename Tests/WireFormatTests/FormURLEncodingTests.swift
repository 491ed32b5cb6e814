import Foundation
import Hummingbird
import Testing
import WireFormat

/// What token-issuer sends (``FormURLEncoding``) read by two independent form decoders: Hummingbird's
/// `URLEncodedFormDecoder` (the emulator's) and Python's `urllib.parse.parse_qsl` (strict parsing, as IdPs written in
/// other languages read it). Every value comes back exactly, in order, whatever it holds.
@Suite struct FormURLEncodingTests {
    /// Names and values with every class of character a client id, secret, scope or assertion can hold.
    static let values: [String] = [
        "", "plain", "with space", "plus+sign", "a+b c", "colon:inside", "x~y.z-_", "amp&er=sand", "percent%20literal",
        "100%", "slash/question?hash#at@", "!$'()*,;", "[brackets]", "quote\"back\\slash", "tab\tnew\nline\r",
        "https://graph.microsoft.com/.default", "api://app-id/.default openid", "ümlaut", "日本語", "emoji 🙂",
        "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_", "~Vv8Q~secret.Entra_generated-value",
    ]

    /// Names as OAuth's (ASCII, `_`), values from the corpus. (Hummingbird reads `[` in a name as nesting, after
    /// percent-decoding, so a name with brackets is not a flat form to it; no OAuth parameter has one.)
    static var pairs: [(String, String)] {
        values.enumerated().map { ("param_\($0.offset)", $0.element) }
    }

    @Test func hummingbirdsDecoderReadsBackEveryValue() throws {
        let body = FormURLEncoding.encode(Self.pairs)
        let decoded = try URLEncodedFormDecoder().decode([String: String].self, from: body)
        #expect(decoded.count == Self.pairs.count)
        for (name, value) in Self.pairs { #expect(decoded[name] == value, "\(name.debugDescription)") }
        // Only unreserved characters and percent escapes leave: no `+` for a space, no reserved character bare.
        #expect(body.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._~%=&".unicodeScalars.contains($0)) })
        #expect(FormURLEncoding.encode([("scope", "a b")]) == "scope=a%20b")
    }

    @Test func pythonsParserReadsBackEveryValueInOrder() throws {
        // Python takes any name: reserved characters and non-ASCII in names too, and a name twice (kept in order).
        let pairs = Self.pairs + [("na me+&=:[x]", "v"), ("ü", ""), ("param_0", "again")]
        let body = FormURLEncoding.encode(pairs)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import json, sys, urllib.parse
            print(json.dumps(urllib.parse.parse_qsl(sys.stdin.read(), keep_blank_values=True, strict_parsing=True, errors="strict")))
            """]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let failure = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3: \(failure)")
        let read = try JSONDecoder().decode([[String]].self, from: data)
        #expect(read.count == pairs.count)
        for (index, pair) in read.enumerated() where index < pairs.count {
            #expect(pair == [pairs[index].0, pairs[index].1], "pair \(index)")
        }
    }

    /// RFC 6749 §2.3.1: `client_secret_basic` encodes id and secret before joining them with `:`, so neither a `:` nor
    /// a `+` survives bare.
    @Test func basicCredentialsAreEscapedBeforeTheyAreJoined() {
        #expect(FormURLEncoding.escape("urn:client:1") == "urn%3Aclient%3A1")
        #expect(FormURLEncoding.escape("s3cr+t/=") == "s3cr%2Bt%2F%3D")
        #expect(FormURLEncoding.escape("a b") == "a%20b")
    }

    /// Why ours and not Hummingbird's encoder (FormURLEncoding's comment): it leaves `+` bare, so a secret with a `+`
    /// is read back, by its own decoder as by any other, with a space. If this starts failing, the library changed:
    /// compare it again and adopt it.
    @Test func hummingbirdsEncoderDoesNotRoundTripAPlus() throws {
        struct Form: Codable { var client_secret: String }
        let encoded = try URLEncodedFormEncoder().encode(Form(client_secret: "s3cr+t"))
        let decoded = try URLEncodedFormDecoder().decode(Form.self, from: encoded)
        #expect(decoded.client_secret == "s3cr t", "Hummingbird sent \(encoded)")
        let ours = try URLEncodedFormDecoder().decode(Form.self, from: FormURLEncoding.encode([("client_secret", "s3cr+t")]))
        #expect(ours.client_secret == "s3cr+t")
    }
}
