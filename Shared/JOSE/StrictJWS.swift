import Crypto
import Foundation
import Synchronization
import WireFormat

/// A compact-serialised JWS (RFC 7515 §7.1), read strictly: the one JWS reader of the suite. authn's validator, the
/// emulator (client assertions, federated tokens, Graph tokens and proofs), `certauth decode-token` and token-issuer's
/// federated token file all read through it, so they refuse the same tokens with the same message.
///
/// What it refuses, in this order (a ``JWSError`` naming the cause; the token is never echoed):
/// - more than `maxLength` bytes (`tooLarge`);
/// - anything but three parts separated by dots; a part that is not strict base64url (``StrictBase64URL``: no padding,
///   no standard-alphabet characters, no non-zero bits after the last byte); an empty header (`malformed`);
/// - a header that is not a JSON object read by `JSONReader` (strict RFC 8259, duplicate member names refused, RFC 7515
///   §4), without a string `alg`, or with a `kid` that is neither a string nor null (`malformed`);
/// - `alg` `none`, HMAC, or an algorithm outside `algorithms` (`unsupportedAlgorithm`);
/// - an empty signature (`malformed`);
/// - a `crit` header: no extension is supported (`criticalHeader`).
///
/// The signature itself is checked by ``JWS/verify(_:key:)`` once the caller has picked the key; the payload is read
/// by ``claims()`` or ``claims(as:)`` (also strict), or by the caller with `JSONReader`.
public struct StrictJWS: Sendable {
    public let header: JOSEHeader
    /// The header's `alg`, accepted.
    public let algorithm: JWSAlgorithm
    /// The decoded header JSON; nil when the header came from a ``JWSHeaderCache`` (not decoded again).
    public let headerJSON: [UInt8]?
    public let payload: [UInt8]
    /// As `Data`, which swift-crypto's signature types keep (no copy when they are made).
    public let signature: Data
    /// SHA-256 of `BASE64URL(header) . BASE64URL(payload)` as sent: what RS256, PS256 and ES256 sign.
    public let digest: SHA256.Digest

    /// Reads `token`. `headers`, when given, answers a header text seen before without decoding it again (what is kept
    /// is a function of the text alone, so it changes no outcome).
    public init(
        parsing token: String, maxLength: Int = 16 * 1024,
        algorithms: Set<JWSAlgorithm> = Set(JWSAlgorithm.allCases), headers: JWSHeaderCache? = nil
    ) throws(JWSError) {
        let length = token.utf8.count
        guard length <= maxLength else {
            throw JWSError(.tooLarge, "token is \(length) bytes, over the limit of \(maxLength); it is refused unread")
        }
        let parts = try Self.split(token, headers: headers)
        let read: ReadHeader
        switch parts.header {
        case .parsed(let known):
            read = known
        case .decoded(let bytes, let text):
            read = try Self.decodeHeader(bytes)
            headers?.remember(text: text, read)
        }
        self.algorithm = try Self.checkAlgorithm(read.header.alg, accepted: algorithms)
        guard !parts.signature.isEmpty else { throw Self.malformedPart("signature") }
        if let crit = read.crit {
            throw JWSError(
                .criticalHeader,
                "token header marks \(crit) as critical ('crit'); no critical header extensions are supported, so the "
                    + "token is refused — the IdP must not require extensions for access tokens")
        }
        self.header = read.header
        if case .decoded(let bytes, _) = parts.header { self.headerJSON = bytes } else { self.headerJSON = nil }
        self.payload = parts.payload
        self.signature = parts.signature
        self.digest = parts.digest
    }

    /// The error for a payload that is not a JSON object of claims (duplicate member names included).
    public static let malformedPayload = JWSError(
        .malformed,
        "token payload is not a JSON object of claims; the IdP issued something other than a JWT access token")

    /// The payload's members, read strictly (``JSONReader``: duplicate names refused).
    public func claims() throws(JWSError) -> [String: JSONValue] {
        guard let members = JSONReader.object(payload) else { throw Self.malformedPayload }
        return members
    }

    /// The payload decoded as `T`, after the strict read of ``claims()`` has accepted it (so a duplicate claim is
    /// refused, not resolved by `JSONDecoder`'s keep-the-first).
    public func claims<T: Decodable>(as type: T.Type = T.self) throws(JWSError) -> T {
        _ = try claims()
        do {
            return try JSONDecoder().decode(T.self, from: Data(payload))
        } catch {
            throw JWSError(.malformed, "token payload is not a JSON object of the expected claims")
        }
    }

    // MARK: - Header

    static func checkAlgorithm(_ alg: String, accepted algorithms: Set<JWSAlgorithm>) throws(JWSError) -> JWSAlgorithm {
        if let algorithm = JWSAlgorithm(rawValue: alg), algorithms.contains(algorithm) {
            return algorithm
        }
        let accepted = algorithms.map(\.rawValue).sorted().joined(separator: ", ")
        if alg.lowercased() == "none" {
            throw JWSError(
                .unsupportedAlgorithm,
                "token is unsigned (alg 'none'); unsigned tokens are never accepted — the IdP must sign access tokens "
                    + "with one of \(accepted)")
        }
        if alg.uppercased().hasPrefix("HS") {
            throw JWSError(
                .unsupportedAlgorithm,
                "token is HMAC-signed (alg \(quoted(alg))); HMAC tokens are never accepted (a resource server checks "
                    + "the IdP's public keys, and accepting HMAC would let anyone who knows a public key forge tokens) "
                    + "— the IdP must sign with one of \(accepted)")
        }
        throw JWSError(
            .unsupportedAlgorithm,
            "token algorithm \(quoted(alg)) is not accepted; accepted: \(accepted) — configure the IdP to sign "
                + "access tokens with one of them")
    }

    /// A header as read: the fields, and the names listed in `crit` (or a placeholder for `crit` in another shape).
    struct ReadHeader: Sendable {
        var header: JOSEHeader
        var crit: String?
    }

    /// Read through ``JSONReader`` (strict RFC 8259, duplicate names refused: RFC 7515 §4): `alg` a string, `kid` a
    /// string, null or absent. JSONDecoder cost as much as the RSA verification itself, JSONSerialization a third of it
    /// (make bench). `x5t` and `x5t#S256` are read when they are strings; `jku`, `x5u`, `jwk` and `x5c` never.
    private static func decodeHeader(_ bytes: [UInt8]) throws(JWSError) -> ReadHeader {
        let malformed = JWSError(
            .malformed,
            "token header is not a JSON object with a string 'alg' (and a string 'kid'); the value sent is not a "
                + "JWT access token — send the access token from the IdP's token response")
        guard let members = JSONReader.object(bytes), case .string(let alg)? = members["alg"] else { throw malformed }
        var header = JOSEHeader(alg: alg, typ: nil)
        switch members["kid"] {
        case nil, .null?: header.kid = nil
        case .string(let kid)?: header.kid = kid
        default: throw malformed
        }
        switch members["typ"] {
        case nil, .null?: header.typ = nil
        case .string(let typ)?: header.typ = typ
        default: header.typ = JOSEHeader.nonStringType
        }
        header.x5t = members["x5t"]?.stringValue
        header.x5tS256 = members["x5t#S256"]?.stringValue
        var read = ReadHeader(header: header)
        if let crit = members["crit"] {
            var names: [String] = []
            if case .array(let items) = crit {
                for item in items {
                    guard case .string(let name) = item else { names = []; break }
                    names.append(name)
                }
            }
            read.crit = names.isEmpty ? "'crit'" : quotedList(names)
        }
        return read
    }

    // MARK: - Parts

    private struct Parts {
        var header: HeaderPart
        var payload: [UInt8]
        var signature: Data
        var digest: SHA256.Digest
    }

    private enum HeaderPart {
        case parsed(ReadHeader)
        case decoded([UInt8], text: [UInt8])
    }

    /// Splits the compact serialisation into its three decoded parts, reading the token's bytes in place. A header
    /// text seen before is not decoded again.
    private static func split(_ token: String, headers: JWSHeaderCache?) throws(JWSError) -> Parts {
        var token = token
        let result = token.withUTF8 { bytes -> Result<Parts, JWSError> in
            // memchr finds the dots at memory speed; a byte loop cost a quarter of the claims' parsing.
            guard let base = bytes.baseAddress,
                  let first = dotIndex(base, from: 0, to: bytes.count),
                  let second = dotIndex(base, from: first + 1, to: bytes.count),
                  dotIndex(base, from: second + 1, to: bytes.count) == nil
            else {
                return .failure(JWSError(
                    .malformed,
                    "token is not a compact JWS (three base64url parts separated by dots); send the access token "
                        + "from the IdP's token response, without quotes or a 'Bearer' prefix"))
            }
            func part(_ range: Range<Int>) -> [UInt8]? {
                StrictBase64URL.decode(UnsafeBufferPointer(rebasing: bytes[range]))
            }
            let headerText = UnsafeBufferPointer(rebasing: bytes[0..<first])
            let header: HeaderPart
            if let known = headers?.header(text: headerText) {
                header = .parsed(known)
            } else {
                guard let decoded = part(0..<first), !decoded.isEmpty else {
                    return .failure(malformedPart("header"))
                }
                header = .decoded(decoded, text: Array(headerText))
            }
            guard let payload = part((first + 1)..<second) else {
                return .failure(malformedPart("payload"))
            }
            guard let signature = StrictBase64URL.decodeData(UnsafeBufferPointer(rebasing: bytes[(second + 1)...])) else {
                return .failure(malformedPart("signature"))
            }
            let digest = SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[0..<second])))
            return .success(Parts(header: header, payload: payload, signature: signature, digest: digest))
        }
        return try result.get()
    }

    /// The index of the first "." in `base[start..<end]`.
    private static func dotIndex(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int? {
        guard start < end, let found = memchr(base + start, Int32(UInt8(ascii: ".")), end - start) else { return nil }
        return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
    }

    private static func malformedPart(_ name: String) -> JWSError {
        JWSError(
            .malformed,
            "token \(name) is missing or not base64url; the value sent is not an intact JWT — send the access token "
                + "exactly as the IdP issued it")
    }
}

/// The last few token headers that parsed, by their base64url text. Every token signed with one key carries the same
/// header (Entra: typ, alg, kid, x5t), so it is decoded and parsed once per key rather than once per token. What is
/// kept is a function of the text alone, so it changes no outcome; the algorithm and the key are still checked for
/// every token. A `Mutex`, not an actor: it is read on every bearer token, synchronously, on the hot path.
public final class JWSHeaderCache: Sendable {
    private struct Entry {
        var text: [UInt8]
        var header: StrictJWS.ReadHeader
    }

    private struct State {
        var entries: [Entry] = []
        var next = 0
    }

    /// Enough for a key rollover (old and new key) with room to spare.
    private static let capacity = 4
    /// Longer headers are not kept (a token's header is a few dozen bytes; this bounds the memory held).
    private static let maximumText = 512
    private let state = Mutex(State())

    public init() {}

    func header(text: UnsafeBufferPointer<UInt8>) -> StrictJWS.ReadHeader? {
        state.withLock { state in
            for entry in state.entries where entry.text.withUnsafeBufferPointer({ Self.equal($0, text) }) {
                return entry.header
            }
            return nil
        }
    }

    func remember(text: [UInt8], _ header: StrictJWS.ReadHeader) {
        guard text.count <= Self.maximumText else { return }
        state.withLock { state in
            let entry = Entry(text: text, header: header)
            if state.entries.count < Self.capacity {
                state.entries.append(entry)
            } else {
                state.entries[state.next] = entry
                state.next = (state.next + 1) % Self.capacity
            }
        }
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let left = a.baseAddress, let right = b.baseAddress else { return a.count == 0 }
        return memcmp(left, right, a.count) == 0
    }
}
