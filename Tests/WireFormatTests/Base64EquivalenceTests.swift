import ExtrasBase64
import Foundation
import Testing
import WireFormat

/// ``StrictBase64URL`` (the JWS reader's decoder, ours because it runs on every bearer token: bench/README.md, "Trace
/// context and base64") against swift-extras-base64, the kept library ``Base64URL`` wraps. Strict accepts exactly
/// what the library decodes from unpadded base64url that is canonical (the library's own encoding of the result,
/// RFC 4648 §3.5: no non-zero bits after the last byte), with the same bytes; everything else both refuse, or only
/// strict refuses (padding, non-canonical tails) as RFC 7515 §2 asks of a JWS.
@Suite struct Base64EquivalenceTests {
    static let options: Base64.DecodingOptions = [.base64UrlAlphabet, .omitPaddingCharacter]

    static func strict(_ text: String) -> [UInt8]? { StrictBase64URL.decode(text) }

    /// What strict must answer for `text`, from the library.
    static func expected(_ text: String) -> [UInt8]? {
        guard !text.utf8.contains(UInt8(ascii: "=")), let decoded = try? Base64.decode(string: text, options: options) else { return nil }
        let canonical = Base64.encodeToString(bytes: decoded, options: [.base64UrlAlphabet, .omitPaddingCharacter])
        return canonical == text ? decoded : nil
    }

    /// Every length 0 to 64 of random bytes, both codecs' encodings, and the library's padded and standard-alphabet
    /// forms (which strict refuses, the lenient decoders read).
    @Test func randomBytesDecodeTheSameFromEveryEncoding() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            for _ in 0..<8 {
                let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                let ours = Base64URL.encode(bytes)
                let library = Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
                #expect(ours == library)
                // An independent third: Foundation's standard base64, mapped to the URL alphabet, padding dropped.
                let foundation = Data(bytes).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                #expect(ours == foundation)
                #expect(Self.strict(ours) == bytes && Self.expected(ours) == bytes)
                #expect(Base64URL.decode(ours) == bytes)

                let padded = Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet])
                #expect(Base64URL.decode(padded) == bytes, "the lenient decoder takes padding")
                if padded != ours { #expect(Self.strict(padded) == nil, "strict refuses padding: \(padded)") }
                let standard = Base64.encodeToString(bytes: bytes)
                #expect(Base64URL.decodeEitherAlphabet(standard) == bytes)
                if standard.contains(where: { $0 == "+" || $0 == "/" }) {
                    #expect(Self.strict(standard) == nil && Base64URL.decode(standard) == nil, "one alphabet: \(standard)")
                }
            }
        }
    }

    /// Short texts over the alphabet's edges and the characters around it: every text of up to three characters, and
    /// random longer ones, at every length modulo 4.
    @Test func edgeTextsAreAcceptedExactlyWhenTheLibraryAcceptsThemCanonically() {
        let characters = Array("AZaz09-_Bg+/= .\u{0}é").map(String.init)
        var corpus: [String] = [""]
        for a in characters {
            corpus.append(a)
            for b in characters {
                corpus.append(a + b)
                for c in characters { corpus.append(a + b + c) }
            }
        }
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for length in 4...23 {
            for _ in 0..<40 {
                var text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
                if Bool.random(using: &generator) {
                    let index = text.index(text.startIndex, offsetBy: Int.random(in: 0..<length, using: &generator))
                    text.replaceSubrange(index...index, with: characters.randomElement(using: &generator)!)
                }
                corpus.append(text)
            }
        }
        for text in corpus {
            #expect(Self.strict(text) == Self.expected(text), "\(text.debugDescription)")
        }
        // The cases named: impossible length, non-canonical tail, padding, the other alphabet, a bad byte.
        #expect(Self.strict("Z") == nil && Self.strict("Zh") == nil && Self.strict("Zg") == [0x66])
        #expect(Self.strict("Zg==") == nil && Self.strict("+/+/") == nil && Self.strict("Zm9v!") == nil)
        #expect(Base64URL.decode("Zg=a") == nil && Base64URL.decode("QQ=Q") == nil && Base64URL.decode("Zg===") == nil)
        #expect(Base64URL.decode("Zg=") == [0x66] && Base64URL.decode("==") == nil)
    }
}
