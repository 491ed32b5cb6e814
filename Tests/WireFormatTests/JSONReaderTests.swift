@testable import WireFormat
import Foundation
import Testing

/// `JSONReader`: RFC 8259 exactly, hostile input refused without trapping, values as `JSONSerialization` reads them.
@Suite struct JSONReaderTests {
    static func parse(_ text: String) -> JSONValue? {
        JSONReader.parse(Array(text.utf8))
    }

    static func failure(_ bytes: [UInt8]) -> JSONReader.Failure? {
        if case .failure(let failure) = JSONReader.parseDetailed(bytes) { return failure }
        return nil
    }

    // MARK: - RFC 8259 grammar

    @Test(arguments: [
        (#"{}"#, JSONValue.object([:])),
        (#"[]"#, .array([])),
        (#" { "a" : [ 1 , true , false , null , "x" , { } , [ ] ] } "#,
         .object(["a": .array([.number(1), .bool(true), .bool(false), .null, .string("x"), .object([:]), .array([])])])),
        ("\t\n\r [1]\r\n\t ", .array([.number(1)])),
        (#""top-level string""#, .string("top-level string")),
        ("42", .number(42)),
        ("-0", .number(-0.0)),
        ("true", .bool(true)),
        ("null", .null),
        (#"{"":""}"#, .object(["": .string("")])),
        (#"{"a":{"a":{"a":1}}}"#, .object(["a": .object(["a": .object(["a": .number(1)])])])),
        (#"{"a":1,"b":2}"#, .object(["a": .number(1), "b": .number(2)])),
        ("[\"h\u{e9} \u{1F600} \u{7F}\"]", .array([.string("h\u{e9} \u{1F600} \u{7F}")])),
    ])
    func validDocuments(_ text: String, _ expected: JSONValue) {
        #expect(Self.parse(text) == expected)
    }

    @Test(arguments: [
        "", " ", "[", "]", "{", "}", "[1,]", #"{"a":1,}"#, "[,1]", "[1 2]", #"{"a" 1}"#, #"{"a":}"#, #"{a:1}"#,
        #"{"a":1 "b":2}"#, "{1:2}", "[1]]", "[1] [2]", "1 2", "[1] x", "tru", "truex", "nul", "NaN", "Infinity",
        "-Infinity", "'a'", "[undefined]", "/* c */ 1", "1 // c", "+1", "01", "-01", "1.", ".5", "1.e5", "1e", "1e+",
        "-", "--1", "0x10", "1_000", "\u{feff}[1]", "\u{c}[1]", "[1]\u{c}", "\u{a0}1", "[1]\u{0}",
        "\"a\tb\"", "\"a\nb\"", "\"\u{1}\"", #""\x""#, #""\'""#, #""\a""#, #""\u12""#, #""\u12G4""#, #""\U0041""#,
        #""unterminated"#, #""\"#, #"["a"#, #"{"a":"#,
    ])
    func invalidDocuments(_ text: String) {
        #expect(Self.parse(text) == nil)
    }

    // MARK: - Strings, escapes, UTF-8

    @Test(arguments: [
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{c}\n\r\t"),
        (#""\u0041\u00e9\u00E9\u20ac""#, "A\u{e9}\u{e9}\u{20ac}"),
        (#""\u0000""#, "\u{0}"),
        (#""\ud83d\ude00""#, "\u{1F600}"),
        (#""\uD834\uDD1E""#, "\u{1D11E}"),
        (#""\udbff\udfff""#, "\u{10FFFF}"),
        (#""a\u0062c\n""#, "abc\n"),
        ("\"\u{e9}\\n\u{1F600}\"", "\u{e9}\n\u{1F600}"),
        (#""\uffff""#, "\u{ffff}"),
    ])
    func escapes(_ text: String, _ expected: String) {
        #expect(Self.parse(text) == .string(expected))
    }

    @Test(arguments: [
        #""\ud800""#, #""\udc00""#, #""\udc00\ud800""#, #""\ud800\ud800""#, #""\ud800x""#, #""\ud800\n""#,
        #""\ud800\u0041""#, #""\ud800\u""#, #""\ud83d""#, #""\ud83d\ude0""#, #""\ud83d\\ude00""#,
    ])
    func unpairedSurrogatesAreRefused(_ text: String) {
        #expect(Self.parse(text) == nil)
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xC1, 0xBF, 0x22], [0x22, 0xE0, 0x80, 0x80, 0x22],
        [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
        [0x22, 0xC3, 0x22], [0x22, 0xE2, 0x82, 0x22], [0x22, 0x80, 0x22], [0x22, 0xC3, 0x5C, 0x6E, 0x22],
        [0x22, 0x5C, 0x6E, 0xA9, 0x22], [0x22, 0xC3, 0x5C, 0x75, 0x30, 0x30, 0x41, 0x39, 0x22],
        [0x5B, 0x31, 0x5D, 0xFF], [0xEF, 0xBB, 0xBF, 0x31], [0x31, 0x00, 0x00, 0x00], [0x00, 0x31],
    ] as [[UInt8]])
    func invalidUTF8AndForeignEncodingsAreRefused(_ bytes: [UInt8]) {
        #expect(JSONReader.parse(bytes) == nil)
    }

    @Test func validUTF8IsKeptWithAndWithoutEscapes() {
        let text = "\u{7FF}\u{800}\u{FFFD}\u{10000}\u{10FFFF}"
        #expect(JSONReader.parse(Array("\"\(text)\"".utf8)) == .string(text))
        #expect(JSONReader.parse(Array("\"\(text)\\t\(text)\"".utf8)) == .string(text + "\t" + text))
    }

    // MARK: - Numbers

    @Test(arguments: [
        "0", "-0", "1", "-1", "9007199254740993", "12345678901234567890", "18446744073709551615", "18446744073709551616",
        "123456789012345678901234567890", "0.1", "0.2", "0.3", "-0.5", "1.5", "3.14159265358979323846264338327950288",
        "0.000123", "123.456", "1e0", "1E5", "1e+5", "1e-5", "1.5e3", "-2.5E-3", "1e308", "1.7976931348623157e308",
        "2.2250738585072014e-308", "5e-324", "4.9e-324", "1e-400", "0.0000000000000000000000000000001",
        "1750004800", "1750004800.5", "100000000000000000000000", "0.1000000000000000055511151231257827",
        "9999999999999999999", "999999999999999.9", "99999999999999999.5", "1" + String(repeating: "0", count: 400) + "e-400",
        "0." + String(repeating: "0", count: 30) + "1", String(repeating: "9", count: 25),
    ])
    func numbersRoundLikeTheStandardLibrary(_ text: String) throws {
        let expected = try #require(Double(text))
        let parsed = try #require(Self.parse(text)?.numberValue)
        #expect(parsed.bitPattern == expected.bitPattern, "\(text): \(parsed) != \(expected)")
    }

    @Test(arguments: ["1e309", "-1e309", "1.7976931348623159e308", "1e400", "-1e400", "1e99999999999999999999"])
    func numbersBeyondDoubleAreRefused(_ text: String) {
        #expect(Self.failure(Array(text.utf8)) == .numberOutOfRange(at: 0))
    }

    /// The fast paths (integers, short decimals) against the standard library's parser on random numbers.
    @Test func randomNumbersMatchTheStandardLibrary() throws {
        var random = SeededRandom(seed: 0x5EED_0001)
        for _ in 0..<20_000 {
            var text = random.next() % 4 == 0 ? "-" : ""
            let integerDigits = Int(random.next() % 20) + 1
            text += random.next() % 5 == 0 ? "0" : String(Int(random.next() % 9) + 1)
            for _ in 1..<integerDigits where !text.hasSuffix("-0") && text != "0" {
                text += String(random.next() % 10)
            }
            if random.next() % 2 == 0 {
                text += "."
                for _ in 0..<(Int(random.next() % 22) + 1) { text += String(random.next() % 10) }
            }
            if random.next() % 5 == 0 {
                text += ["e", "E", "e-", "e+"][Int(random.next() % 4)] + String(random.next() % 330)
            }
            let expected = try #require(Double(text))
            guard expected.isFinite else {
                #expect(Self.parse(text) == nil, "\(text)")
                continue
            }
            let parsed = Self.parse(text)?.numberValue
            #expect(parsed?.bitPattern == expected.bitPattern, "\(text): \(String(describing: parsed)) != \(expected)")
        }
    }

    // MARK: - Objects, depth

    @Test func duplicateMemberNamesAreRefused() {
        #expect(Self.failure(Array(#"{"alg":"RS256","alg":"none"}"#.utf8)) == .duplicateMember("alg"))
        #expect(Self.failure(Array(#"{"a":{"b":1,"b":1}}"#.utf8)) == .duplicateMember("b"))
        #expect(Self.failure(Array(#"{"\u0061":1,"a":2}"#.utf8)) == .duplicateMember("a"))
        #expect(Self.parse(#"{"a":{"a":1},"b":{"a":1}}"#) != nil)
    }

    @Test func nestingIsLimited() {
        let depth = JSONReader.maximumDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(Self.parse(deepest) != nil)
        let tooDeep = String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)
        #expect(Self.failure(Array(tooDeep.utf8)) == .tooDeep)
        let objects = String(repeating: #"{"a":"#, count: depth + 1) + "1" + String(repeating: "}", count: depth + 1)
        #expect(Self.failure(Array(objects.utf8)) == .tooDeep)
        // A hostile header: a megabyte of brackets is refused at the limit, not by exhausting the stack.
        #expect(Self.failure([UInt8](repeating: UInt8(ascii: "["), count: 1 << 20)) == .tooDeep)
        #expect(Self.failure(Array((String(repeating: "[{\"a\":", count: 40_000)).utf8)) == .tooDeep)
    }

    // MARK: - Hostile input

    static let entraPayload = #"""
        {"aud":"2622078b-0164-41ee-8794-3ff8d9f8e402","iss":"https://login.microsoftonline.com/ea952511-6a7f-40b8-af71-6c1be6f0dade/v2.0","iat":1750004740,"nbf":1750004740,"exp":1750008400,"aio":"k2BgYGhvN3r9/XWmd0Xz6lCJ0h3nBQA=","azp":"6fe432f2-7dc3-4e13-b1b4-4cc8480c80b7","azpacr":"2","idp":"https:\/\/sts.windows.net\/ea952511-6a7f-40b8-af71-6c1be6f0dade\/","name":"Ren\u00e9e \ud83d\ude00","oid":"b7ce1f4d-6c0b-4b1f-9c3c-1d2e0f0a1b2c","rh":"1.AXkAEWWV6n8auECvcWwb5vDa3osHIiZkAe5Bh5Q_-Nn45AJ5AAB5AA.","roles":["Admin","Reader"],"scp":"read write","sub":"b7ce1f4d-6c0b-4b1f-9c3c-1d2e0f0a1b2c","tid":"ea952511-6a7f-40b8-af71-6c1be6f0dade","uti":"AbCdEf0123456789","ver":"2.0","xms_tcdt":1.6e9,"cnf":{"x5t#S256":"abc"},"deleted":null,"flag":true}
        """#

    @Test func everyPrefixOfATokenPayloadIsRefused() throws {
        let bytes = Array(Self.entraPayload.utf8)
        let full = try #require(JSONReader.object(bytes))
        #expect(full.count == 22)
        #expect(full["name"] == .string("Ren\u{e9}e \u{1F600}"))
        #expect(full["idp"] == .string("https://sts.windows.net/ea952511-6a7f-40b8-af71-6c1be6f0dade/"))
        for length in 0..<bytes.count {
            #expect(JSONReader.parse(Array(bytes[..<length])) == nil, "prefix of \(length) bytes")
            // Each prefix also as the start of a larger buffer: the reader must stop at the slice's end.
            let value: JSONValue? = bytes.withUnsafeBytes { JSONReader.parse(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
            #expect(value == nil)
        }
    }

    /// Random mutations of real documents, checked against `JSONSerialization`: the same values whenever both accept,
    /// and a refusal only where the documented rules differ (trailing comma, BOM or UTF-16/32, duplicate names, depth).
    @Test func fuzzAgainstJSONSerialization() throws {
        let seeds = [
            Self.entraPayload, #"{"alg":"RS256","kid":"abc","typ":"JWT"}"#, #"[1,-2.5e3,"\u00e9\n",true,false,null,{}]"#,
            #"{"a":[{"b":{"c":[0.1,1e-7,123456789012]}}],"d":"\ud83d\ude00"}"#, "\"caf\u{e9} \u{1F600}\"",
        ].map { Array($0.utf8) }
        let alphabet = Array(#"{}[]:,"\\/ubfnrt0123456789.eE+- alsnx"#.utf8) + [0x00, 0x09, 0x0A, 0xC3, 0xA9, 0xED, 0xFF]
        var random = SeededRandom(seed: 0xF022_2026)
        var agreed = 0, bothRefused = 0, documented = 0
        for iteration in 0..<6_000 {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0...(random.next() % 3) {
                let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
                switch random.next() % 7 {
                case 0 where !bytes.isEmpty: bytes[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                case 2 where !bytes.isEmpty: bytes.remove(at: position)
                case 3: bytes = Array(bytes[..<position])
                case 4 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 5:  // a trailing comma, which JSONSerialization accepts
                    if let close = bytes[position...].firstIndex(where: { $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: "}") }) {
                        bytes.insert(UInt8(ascii: ","), at: close)
                    }
                default:
                    let end = min(bytes.count, position + Int(random.next() % 8))
                    bytes.insert(contentsOf: bytes[position..<end], at: position)
                }
            }
            if iteration % 10 == 0 {  // pure random bytes from the alphabet, too
                bytes = (0..<(random.next() % 24)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            }
            let ours = JSONReader.parseDetailed(bytes)
            Self.expectMembersAgree(bytes)
            let theirs = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]))
                .map(JSONValue.fromJSONSerialization)
            switch (ours, theirs) {
            case (.success(let value), let other?):
                #expect(Self.same(value, other), "\(Self.describe(bytes)): \(value) != \(other)")
                agreed += 1
            case (.success(let value), nil):
                Issue.record("accepted what JSONSerialization refuses: \(Self.describe(bytes)) → \(value)")
            case (.failure, nil):
                bothRefused += 1
            case (.failure(let failure), _?):
                #expect(Self.documentedDifference(failure, bytes), "refused (\(failure)) what JSONSerialization accepts: \(Self.describe(bytes))")
                documented += 1
            }
        }
        // The loop must have exercised every outcome, not only refusals.
        #expect(agreed > 500 && bothRefused > 500 && documented > 50, "agreed \(agreed), both refused \(bothRefused), documented \(documented)")
    }

    /// Names the fuzz picks with `members(_:named:)`: some in the seeds, one repeated, one absent, one non-ASCII.
    static let fuzzNames = JSONReader.MemberNames(["alg", "aud", "iss", "roles", "a", "d", "alg", "absent", "caf\u{e9}"])

    /// `members(_:named:)` accepts exactly what `object(_:)` accepts, with the same values.
    static func expectMembersAgree(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let object = JSONReader.object(bytes)
        let members = JSONReader.members(bytes, named: fuzzNames)
        #expect((object == nil) == (members == nil), "\(describe(bytes))", sourceLocation: sourceLocation)
        guard let object, let members else { return }
        #expect(members == fuzzNames.names.map { object[$0] }, "\(describe(bytes))", sourceLocation: sourceLocation)
    }

    /// Where `JSONSerialization` accepts more than RFC 8259 (see ``JSONReader``'s documentation).
    static func documentedDifference(_ failure: JSONReader.Failure, _ bytes: [UInt8]) -> Bool {
        switch failure {
        case .duplicateMember, .tooDeep:
            return true
        case .syntax, .invalidText, .numberOutOfRange:
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.contains(0) { return true }  // BOM, UTF-16/32 guess
            // A trailing comma: ',' then optional whitespace then ']' or '}'.
            let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
            for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: ",") {
                let next = bytes[(index + 1)...].first { !whitespace.contains($0) }
                if next == UInt8(ascii: "]") || next == UInt8(ascii: "}") { return true }
            }
            return false
        }
    }

    /// Equal values; numbers within a few ulps (`JSONSerialization` goes through `Decimal` beyond 64-bit integers).
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)):
            return x == y || abs(x - y) <= 4 * max(x.ulp, y.ulp)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { name, value in y[name].map { same(value, $0) } ?? false }
        default:
            return a == b
        }
    }

    static func describe(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).debugDescription + " \(bytes.prefix(40))"
    }

    // MARK: - Selected members

    @Test func membersPicksTheNamedValuesAndChecksTheRest() throws {
        let names = JSONReader.MemberNames(["iss", "roles", "absent", "iss", "cnf"])
        let document = #"{"iss":"https://idp","roles":["a","b"],"other":{"x":[1,2,{"y":null}]},"n":1e5,"s":"caf\u00e9","cnf":{"k":"v"}}"#
        let values = try #require(JSONReader.members(Array(document.utf8), named: names))
        #expect(values == [.string("https://idp"), .array([.string("a"), .string("b")]), nil, .string("https://idp"),
                           .object(["k": .string("v")])])
        #expect(JSONReader.members(Array("{}".utf8), named: names) == [nil, nil, nil, nil, nil])
        for refused in [
            "[]", #""iss""#, "", "{", #"{"iss":1,"iss":2}"#, #"{"iss":1,"\u0069ss":2}"#, #"{"x":1,"x":2}"#,
            #"{"x":1,"\u0078":2}"#, #"{"x":{"y":1,"y":2}}"#, #"{"x":"\ud800"}"#, #"{"x":1e400}"#, #"{"x":1,}"#,
            #"{"x":1} x"#, #"{"x":tru}"#, "{\"x\":\"a\tb\"}",
        ] {
            #expect(JSONReader.members(Array(refused.utf8), named: names) == nil, "\(refused)")
            #expect(JSONReader.object(Array(refused.utf8)) == nil, "\(refused)")
        }
        #expect(JSONReader.members([0x7B, 0x22, 0x78, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], named: names) == nil)
    }

    @Test func membersComparesNamesAsDictionaryKeysDo() throws {
        // U+037E GREEK QUESTION MARK is canonically equivalent to ";": one key for a Dictionary, so here too.
        let names = JSONReader.MemberNames([";", "\u{e9}"])
        let picked = try #require(JSONReader.members(Array("{\"\u{37e}\":1,\"e\u{301}\":2}".utf8), named: names))
        #expect(picked == [.number(1), .number(2)])
        #expect(JSONReader.members(Array("{\";\":1,\"\u{37e}\":2}".utf8), named: names) == nil)
        #expect(JSONReader.members(Array("{\"a\u{37e}\":1,\"a;\":2}".utf8), named: names) == nil)
        #expect(JSONReader.object(Array("{\"a\u{37e}\":1,\"a;\":2}".utf8)) == nil)
        let reversed = JSONReader.MemberNames(["\u{37e}"])
        #expect(try #require(JSONReader.members(Array(#"{";":3}"#.utf8), named: reversed)) == [.number(3)])
        let long = JSONReader.MemberNames(["preferred_username", "preferred_usernamf"])
        #expect(JSONReader.members(Array(#"{"preferred_usernamf":1}"#.utf8), named: long) == [nil, .number(1)])
    }

    @Test func membersAgreesWithObjectOnEveryPrefix() {
        let bytes = Array(Self.entraPayload.utf8)
        for length in 0...bytes.count { Self.expectMembersAgree(Array(bytes[..<length])) }
    }

    // MARK: - JSONValue.fromJSON

    @Test func fromJSONUsesTheReader() {
        #expect(JSONValue.fromJSON(Data(#"{"t":true,"n":1}"#.utf8)) == .object(["t": .bool(true), "n": .number(1)]))
        #expect(JSONValue.fromJSON(Data(#"{"a":1,"a":2}"#.utf8)) == nil)
        #expect(JSONValue.fromJSON(Data()) == nil)
        #expect(JSONValue.fromJSON(Data("[1]".utf8).dropFirst(0)) == .array([.number(1)]))
    }
}

/// SplitMix64: a fixed sequence for a seed, so a failing fuzz case can be reproduced.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
