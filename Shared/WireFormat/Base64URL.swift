import ExtrasBase64

/// Base64url without padding (RFC 4648 §5), as used by JOSE (`x5t`, `x5t#S256`, JWT segments): swift-extras-base64's
/// codec with the rules of the values we read around it. ``StrictBase64URL`` is the JWS reader's own decoder (the hot
/// path), held to this library by `Tests/WireFormatTests/Base64EquivalenceTests`.
public enum Base64URL {
    /// Base64url without padding (RFC 7515 section 2).
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Base64.encodeToString(bytes: Array(bytes), options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// Decodes base64url or standard base64 (`+`, `/`), with or without padding: for values written either way by
    /// people and clients (MSAL sends `x5t#S256` in standard base64; SPKI pins are pasted from either tool). Never for
    /// JWS parts, which ``StrictBase64URL`` reads.
    public static func decodeEitherAlphabet(_ s: String) -> [UInt8]? {
        decode(String(decoding: s.utf8.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 }, as: UTF8.self))
    }

    /// Decodes base64url with or without padding; nil for invalid input (including standard-alphabet `+` and `/`,
    /// `=` anywhere but at the end, more `=` than the length needs, and a length no base64 text has).
    public static func decode(_ s: String) -> [UInt8]? {
        let utf8 = Array(s.utf8)
        let equals = UInt8(ascii: "=")
        let padding = utf8.reversed().prefix(while: { $0 == equals }).count
        let unpadded = utf8[..<(utf8.count - padding)]
        // The library would take a `=` inside the last group for a missing character ("QQ=Q"): refused here.
        guard unpadded.count % 4 != 1, padding <= (4 - unpadded.count % 4) % 4, !unpadded.contains(equals) else { return nil }
        return try? Base64.decode(bytes: unpadded, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}
