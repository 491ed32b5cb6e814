import Foundation

/// Base64url without padding (RFC 4648 §5), as used by JOSE (`x5t`, `x5t#S256`, JWT segments).
public enum Base64URL {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") {
            text.removeLast()
        }
        return String(text.map { character -> Character in
            switch character {
            case "+": return "-"
            case "/": return "_"
            default: return character
            }
        })
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
