/// Strict base64url decoding (RFC 4648 §5, no padding, canonical trailing bits) straight from the token's UTF-8
/// bytes: one allocation per segment, no intermediate strings. `Keystore.Base64URL` is the general-purpose one;
/// this one sits on the hot path of every bearer token.
enum Base64URLDecoding {
    /// 0...63 for the base64url alphabet, 0xFF for everything else.
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// The decoded bytes, or nil for a character outside the alphabet, padding, an impossible length, or
    /// non-zero bits after the last full byte.
    static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = input.count
        guard count % 4 != 1 else { return nil }
        let table = Self.table
        var output = [UInt8]()
        output.reserveCapacity(count * 3 / 4)
        var index = 0
        return table.withUnsafeBufferPointer { table -> [UInt8]? in
            while index + 4 <= count {
                let a = table[Int(input[index])], b = table[Int(input[index + 1])]
                let c = table[Int(input[index + 2])], d = table[Int(input[index + 3])]
                guard (a | b | c | d) & 0xC0 == 0 else { return nil }
                output.append(a << 2 | b >> 4)
                output.append(b << 4 | c >> 2)
                output.append(c << 6 | d)
                index += 4
            }
            switch count - index {
            case 0:
                break
            case 2:
                let a = table[Int(input[index])], b = table[Int(input[index + 1])]
                guard (a | b) & 0xC0 == 0, b & 0x0F == 0 else { return nil }
                output.append(a << 2 | b >> 4)
            case 3:
                let a = table[Int(input[index])], b = table[Int(input[index + 1])], c = table[Int(input[index + 2])]
                guard (a | b | c) & 0xC0 == 0, c & 0x03 == 0 else { return nil }
                output.append(a << 2 | b >> 4)
                output.append(b << 4 | c >> 2)
            default:
                return nil
            }
            return output
        }
    }

    /// Decodes a base64url string (JWK members).
    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode($0) }
    }
}
