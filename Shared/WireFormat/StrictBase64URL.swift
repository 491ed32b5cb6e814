import Foundation

/// Strict base64url decoding (RFC 4648 §5, no padding, canonical trailing bits) straight from the token's UTF-8
/// bytes: one allocation per segment, no intermediate strings. ``Base64URL`` is the lenient one (padding accepted);
/// this one reads what must be exact: every JWS segment of a bearer token (the hot path) and JWK members.
///
/// Ours rather than swift-extras-base64 (which ``Base64URL`` wraps) because the signature is decoded straight into
/// `Data` without an intermediate array (bench/README.md, "Trace context and base64"); held to the library by
/// `Tests/WireFormatTests/Base64EquivalenceTests`: it accepts exactly the library's canonical, unpadded decodings.
public enum StrictBase64URL {
    /// Four tables of 256 entries, one per position in a group of four characters: the character's 6 bits shifted
    /// to their place in the group's 24 bits, or 0x0100_0000 (outside them) for a byte outside the alphabet. A group
    /// is then four lookups ORed together, and one test of the high byte per segment catches any bad character.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0x0100_0000, count: 4 * 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for (value, byte) in alphabet.enumerated() {
            for position in 0..<4 {
                tables[position * 256 + Int(byte)] = UInt32(value) << (18 - 6 * position)
            }
        }
        return tables
    }()

    /// The number of bytes `count` characters decode to; nil for a length no base64url text has.
    public static func decodedCount(_ count: Int) -> Int? {
        count % 4 == 1 ? nil : count / 4 * 3 + max(0, count % 4 - 1)
    }

    /// The decoded bytes, or nil for a character outside the alphabet, padding, an impossible length, or
    /// non-zero bits after the last full byte.
    public static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let count = decodedCount(input.count) else { return nil }
        var valid = false
        let output = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            valid = decode(input, into: buffer)
            initialized = valid ? count : 0
        }
        return valid ? output : nil
    }

    /// The decoded bytes as `Data` (what swift-crypto's signature types hold), or nil as for `decode(_:)`. Decoded on
    /// the stack and copied once: writing into a `Data` in place cost more (zeroing, and its storage's checks).
    public static func decodeData(_ input: UnsafeBufferPointer<UInt8>) -> Data? {
        guard let count = decodedCount(input.count) else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer -> Data? in
            guard decode(input, into: buffer) else { return nil }
            guard let base = buffer.baseAddress else { return Data() }
            return Data(bytes: base, count: count)
        }
    }

    /// Decodes `input` into `output`, which holds exactly `decodedCount(input.count)` bytes; false when `input` is
    /// not strict base64url.
    private static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        let count = input.count
        guard decodedCount(count) == output.count else { return false }
        guard let source = input.baseAddress, let target = output.baseAddress else { return count == 0 }
        return tables.withUnsafeBufferPointer { tables -> Bool in
            guard let table = tables.baseAddress else { return false }
            func group(_ index: Int, _ length: Int) -> UInt32 {
                var bits: UInt32 = 0
                for position in 0..<length {
                    bits |= table[position &* 256 &+ Int(source[index &+ position])]
                }
                return bits
            }
            var index = 0
            var written = 0
            var seen: UInt32 = 0
            while index + 4 <= count {
                let bits = group(index, 4)
                seen |= bits
                target[written] = UInt8(truncatingIfNeeded: bits >> 16)
                target[written + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                target[written + 2] = UInt8(truncatingIfNeeded: bits)
                index += 4
                written += 3
            }
            switch count - index {
            case 0:
                break
            case 2:
                let bits = group(index, 2)
                guard bits & 0xFFFF == 0 else { return false }  // non-zero bits after the last byte
                seen |= bits
                target[written] = UInt8(truncatingIfNeeded: bits >> 16)
            case 3:
                let bits = group(index, 3)
                guard bits & 0xFF == 0 else { return false }
                seen |= bits
                target[written] = UInt8(truncatingIfNeeded: bits >> 16)
                target[written + 1] = UInt8(truncatingIfNeeded: bits >> 8)
            default:
                return false
            }
            return seen & 0xFF00_0000 == 0
        }
    }

    /// Decodes a base64url string (JWK members).
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode($0) }
    }
}
