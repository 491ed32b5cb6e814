import Foundation

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

    /// The number of bytes `count` characters decode to; nil for a length no base64url text has.
    static func decodedCount(_ count: Int) -> Int? {
        count % 4 == 1 ? nil : count / 4 * 3 + max(0, count % 4 - 1)
    }

    /// The decoded bytes, or nil for a character outside the alphabet, padding, an impossible length, or
    /// non-zero bits after the last full byte.
    static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let count = decodedCount(input.count) else { return nil }
        var valid = false
        let output = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            valid = decode(input, into: buffer)
            initialized = valid ? count : 0
        }
        return valid ? output : nil
    }

    /// The decoded bytes as `Data` (what swift-crypto's signature types hold), or nil as for `decode(_:)`.
    static func decodeData(_ input: UnsafeBufferPointer<UInt8>) -> Data? {
        guard let count = decodedCount(input.count) else { return nil }
        var output = Data(count: count)
        let valid = output.withUnsafeMutableBytes { decode(input, into: $0.bindMemory(to: UInt8.self)) }
        return valid ? output : nil
    }

    /// Decodes `input` into `output`, which holds exactly `decodedCount(input.count)` bytes; false when `input` is
    /// not strict base64url.
    private static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        let count = input.count
        guard decodedCount(count) == output.count else { return false }
        return table.withUnsafeBufferPointer { table -> Bool in
            var index = 0
            var written = 0
            while index + 4 <= count {
                let a = table[Int(input[index])], b = table[Int(input[index + 1])]
                let c = table[Int(input[index + 2])], d = table[Int(input[index + 3])]
                guard (a | b | c | d) & 0xC0 == 0 else { return false }
                output[written] = a << 2 | b >> 4
                output[written + 1] = b << 4 | c >> 2
                output[written + 2] = c << 6 | d
                index += 4
                written += 3
            }
            switch count - index {
            case 0:
                return true
            case 2:
                let a = table[Int(input[index])], b = table[Int(input[index + 1])]
                guard (a | b) & 0xC0 == 0, b & 0x0F == 0 else { return false }
                output[written] = a << 2 | b >> 4
                return true
            case 3:
                let a = table[Int(input[index])], b = table[Int(input[index + 1])], c = table[Int(input[index + 2])]
                guard (a | b | c) & 0xC0 == 0, c & 0x03 == 0 else { return false }
                output[written] = a << 2 | b >> 4
                output[written + 1] = b << 4 | c >> 2
                return true
            default:
                return false
            }
        }
    }

    /// Decodes a base64url string (JWK members).
    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode($0) }
    }
}
