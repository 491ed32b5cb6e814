import Foundation

/// Base64url without padding (RFC 4648 §5), as used by JOSE (`x5t`, `x5t#S256`, JWT segments).
public enum Base64URL {
    /// Base64url without padding (RFC 7515 section 2), from a table, straight into UTF-8: the Foundation base64 then a
    /// `Character` map this replaced was 14 % of signing a client assertion (perf).
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var output = [UInt8]()
        output.reserveCapacity((input.count * 4 + 2) / 3)
        alphabet.withUnsafeBufferPointer { table in
            var index = 0
            while index + 3 <= input.count {
                let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                output.append(table[Int(chunk >> 18 & 63)])
                output.append(table[Int(chunk >> 12 & 63)])
                output.append(table[Int(chunk >> 6 & 63)])
                output.append(table[Int(chunk & 63)])
                index += 3
            }
            let rest = input.count - index
            if rest > 0 {
                let chunk = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                output.append(table[Int(chunk >> 18 & 63)])
                output.append(table[Int(chunk >> 12 & 63)])
                if rest == 2 { output.append(table[Int(chunk >> 6 & 63)]) }
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Decodes base64url or standard base64 (`+`, `/`), with or without padding: for values written either way by
    /// people and clients (MSAL sends `x5t#S256` in standard base64; SPKI pins are pasted from either tool). Never for
    /// JWS parts, which ``StrictBase64URL`` reads.
    public static func decodeEitherAlphabet(_ s: String) -> [UInt8]? {
        decode(s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
    }

    /// Decodes base64url with or without padding; returns nil for invalid input
    /// (including standard-alphabet `+` and `/`).
    public static func decode(_ s: String) -> [UInt8]? {
        var text = ""
        text.reserveCapacity(s.utf8.count + 3)
        var sawPadding = false
        for character in s {
            switch character {
            case "-":
                guard !sawPadding else { return nil }
                text.append("+")
            case "_":
                guard !sawPadding else { return nil }
                text.append("/")
            case "=":
                sawPadding = true
                text.append("=")
            case "A"..."Z", "a"..."z", "0"..."9":
                guard !sawPadding else { return nil }
                text.append(character)
            default:
                return nil
            }
        }
        let unpadded = text.utf8.count - text.utf8.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard unpadded % 4 != 1 else { return nil }
        let paddedLength = (unpadded + 3) / 4 * 4
        guard text.utf8.count <= paddedLength else { return nil }
        text = String(text.prefix(unpadded)) + String(repeating: "=", count: paddedLength - unpadded)
        guard let data = Data(base64Encoded: text) else { return nil }
        return Array(data)
    }
}
