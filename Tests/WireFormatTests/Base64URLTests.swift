import Foundation
import Testing
import WireFormat

@Suite struct Base64URLTests {
    @Test func encodesWithoutPadding() {
        #expect(Base64URL.encode([UInt8]()) == "")
        #expect(Base64URL.encode(Array("f".utf8)) == "Zg")
        #expect(Base64URL.encode(Array("fo".utf8)) == "Zm8")
        #expect(Base64URL.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.encode([0xFF, 0xEE]) == "_-4")
    }

    @Test func decodes() {
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("Zg") == Array("f".utf8))
        #expect(Base64URL.decode("Zg==") == Array("f".utf8))
        #expect(Base64URL.decode("Zm8") == Array("fo".utf8))
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
        #expect(Base64URL.decode("_-4") == [0xFF, 0xEE])
    }

    @Test func rejectsInvalidInput() {
        #expect(Base64URL.decode("+/+/") == nil)
        #expect(Base64URL.decode("Z") == nil)
        #expect(Base64URL.decode("Zg=a") == nil)
        #expect(Base64URL.decode("Zm9v!") == nil)
        #expect(Base64URL.decode("Zg===") == nil)
    }

    @Test func eitherAlphabetReadsStandardBase64Too() {
        #expect(Base64URL.decodeEitherAlphabet("+/+/") == [0xFB, 0xFF, 0xBF])
        #expect(Base64URL.decodeEitherAlphabet("-_-_") == [0xFB, 0xFF, 0xBF])
        #expect(Base64URL.decodeEitherAlphabet("/+4=") == [0xFF, 0xEE])
        #expect(Base64URL.decodeEitherAlphabet("Zm9v!") == nil)
    }

    @Test func roundTrips() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    /// The table encoder against Foundation's base64 with the alphabet swapped and the padding dropped.
    @Test func encodesAsFoundationDoes() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected, "\(length) bytes")
        }
    }
}

@Suite struct StrictBase64URLTests {
    @Test func agreesWithTheEncoderForEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(StrictBase64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    @Test(arguments: ["A", "AB=", "AB==", "a+bc", "a/bc", "ab c", "QR", "QUJ", "é"])
    func refusesNonCanonicalInput(_ text: String) {
        #expect(StrictBase64URL.decode(text) == nil)
    }
}

@Suite struct HexTests {
    @Test func encodesBothCasesAndDecodesWhatItWrote() {
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
        #expect(Hex.encode([0x00, 0x0F, 0xA5, 0xFF], uppercase: true) == "000FA5FF")
        // What openssl prints for the SHA-256 of "abc" (`printf abc | openssl dgst -sha256`).
        let digest: [UInt8] = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
            0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
        ]
        #expect(Hex.encode(digest) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        for length in 0..<40 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            #expect(Hex.decode(Hex.encode(bytes)) == bytes)
            #expect(Hex.decode(Hex.encode(bytes, uppercase: true)) == bytes)
        }
    }

    @Test(arguments: ["0", "abc", "0g", "zz", " 00", "00 ", "é0"])
    func refusesWhatIsNotHex(_ text: String) {
        #expect(Hex.decode(text) == nil)
    }
}
