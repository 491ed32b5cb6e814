import Foundation
import WireFormat

/// The names of a client certificate that authn sends to roles (`/v1/resolve` `certificate_sans`) and that mapping
/// rules compare: subjectAltName entries written as OpenSSL prints them, `DNS:<name>` and `URI:<uri>`.
public enum CertificateSAN: Sendable, Equatable, Hashable {
    case dns(String)
    case uri(String)

    /// At most this many names are sent and read (a certificate with more is unusual; the rest are ignored by roles).
    public static let maximumCount = 100
    /// Longest name read (RFC 3986 puts no bound on URIs; SPIFFE IDs are at most 2048 bytes).
    public static let maximumLength = 2048

    /// `DNS:<name>` or `URI:<uri>`.
    public var wire: String {
        switch self {
        case .dns(let name): "DNS:" + name
        case .uri(let uri): "URI:" + uri
        }
    }

    /// Reads `DNS:<name>` / `URI:<uri>` (the prefix in any case); nil for other forms or an empty or overlong value.
    public init?(wire: String) {
        guard wire.utf8.count <= Self.maximumLength + 4 else { return nil }
        let lowered = wire.prefix(4).lowercased()
        let value = String(wire.dropFirst(4))
        guard !value.isEmpty else { return nil }
        switch lowered {
        case "dns:": self = .dns(value)
        case "uri:": self = .uri(value)
        default: return nil
        }
    }
}

/// A SPIFFE ID (`spiffe://<trust domain>/<path>`) read by the SPIFFE ID specification's rules: lower-case trust
/// domain of letters, digits, `.`, `-`, `_`; path segments of letters, digits, `.`, `-`, `_`, none empty, `.` or
/// `..`; no port, user info, query or fragment; at most 2048 bytes.
public struct SPIFFEID: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let trustDomain: String
    /// The path segments (empty for the trust domain's own ID).
    public let segments: [String]

    public var description: String {
        "spiffe://" + trustDomain + segments.map { "/" + $0 }.joined()
    }

    /// nil when `text` is not a SPIFFE ID; ``problem(_:)`` says why.
    public init?(_ text: String) {
        guard case .success(let id) = Self.parse(text) else { return nil }
        self = id
    }

    /// Why `text` is not a SPIFFE ID, or nil when it is one.
    public static func problem(_ text: String) -> String? {
        if case .failure(let problem) = parse(text) { return problem.reason }
        return nil
    }

    struct Problem: Error {
        var reason: String
    }

    static func parse(_ text: String) -> Result<SPIFFEID, Problem> {
        guard text.utf8.count <= 2048 else { return .failure(Problem(reason: "is longer than 2048 bytes")) }
        guard text.hasPrefix("spiffe://") else { return .failure(Problem(reason: "does not start with spiffe:// (the scheme is lower case)")) }
        let rest = text.dropFirst("spiffe://".count)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        let domain = String(parts[0])
        guard !domain.isEmpty else { return .failure(Problem(reason: "has an empty trust domain")) }
        guard domain.utf8.allSatisfy(isTrustDomainByte) else {
            return .failure(Problem(reason: "has a trust domain '\(domain)' with characters other than a-z, 0-9, '.', '-', '_' (no port, user info or upper case)"))
        }
        var segments: [String] = []
        for part in parts.dropFirst() {
            guard !part.isEmpty else { return .failure(Problem(reason: "has an empty path segment (// or a trailing /)")) }
            guard part != ".", part != ".." else { return .failure(Problem(reason: "has a '.' or '..' path segment")) }
            guard part.utf8.allSatisfy(isPathByte) else {
                return .failure(Problem(reason: "has a path segment '\(part)' with characters other than letters, digits, '.', '-', '_' (no query, fragment or percent-encoding)"))
            }
            segments.append(String(part))
        }
        return .success(SPIFFEID(trustDomain: domain, segments: segments))
    }

    private init(trustDomain: String, segments: [String]) {
        self.trustDomain = trustDomain
        self.segments = segments
    }

    static func isTrustDomainByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2E || byte == 0x2D || byte == 0x5F
    }

    static func isPathByte(_ byte: UInt8) -> Bool {
        isTrustDomainByte(byte) || (byte >= 0x41 && byte <= 0x5A)
    }
}

/// A `spiffe_id` mapping rule: `spiffe://<trust domain>/<path pattern>`. The trust domain compares exactly; in the
/// path, `*` within a segment matches any characters of that one segment, and a segment `**` matches any number of
/// segments (none included). `spiffe://prod.example/ns/payments/sa/*` matches every service account of the
/// namespace; `spiffe://prod.example/**` every workload of the trust domain.
public struct SPIFFEPattern: Sendable, Equatable {
    public let trustDomain: String
    public let segments: [String]
    public static let maximumSegments = 32

    /// Why `text` is not a pattern, or nil.
    public static func problem(_ text: String) -> String? {
        switch parse(text) {
        case .success: nil
        case .failure(let problem): problem.reason
        }
    }

    public init?(_ text: String) {
        guard case .success(let pattern) = Self.parse(text) else { return nil }
        self = pattern
    }

    private init(trustDomain: String, segments: [String]) {
        self.trustDomain = trustDomain
        self.segments = segments
    }

    static func parse(_ text: String) -> Result<SPIFFEPattern, SPIFFEID.Problem> {
        // The pattern is a SPIFFE ID once each `*` is taken for a letter.
        switch SPIFFEID.parse(text.replacingOccurrences(of: "*", with: "x")) {
        case .failure(let problem): return .failure(problem)
        case .success(let shape):
            if text.dropFirst("spiffe://".count).split(separator: "/", omittingEmptySubsequences: false)[0].contains("*") {
                return .failure(SPIFFEID.Problem(reason: "has a '*' in the trust domain; the trust domain compares exactly"))
            }
            let segments = text.dropFirst("spiffe://".count + shape.trustDomain.utf8.count)
                .split(separator: "/").map(String.init)
            guard segments.count <= maximumSegments else {
                return .failure(SPIFFEID.Problem(reason: "has more than \(maximumSegments) path segments"))
            }
            if let bad = segments.first(where: { $0.contains("**") && $0 != "**" }) {
                return .failure(SPIFFEID.Problem(reason: "has '**' inside the segment '\(bad)'; '**' must be a whole segment (any number of segments)"))
            }
            return .success(SPIFFEPattern(trustDomain: shape.trustDomain, segments: segments))
        }
    }

    public func matches(_ id: SPIFFEID) -> Bool {
        guard id.trustDomain == trustDomain, id.segments.count <= 256 else { return false }
        // Dynamic programming over (pattern segment, id segment): O(n·m), no backtracking blow-up.
        let pattern = segments
        let subject = id.segments
        var row = [Bool](repeating: false, count: subject.count + 1)
        row[0] = true
        for token in pattern {
            var next = [Bool](repeating: false, count: subject.count + 1)
            if token == "**" {
                var reachable = false
                for index in 0...subject.count {
                    reachable = reachable || row[index]
                    next[index] = reachable
                }
            } else {
                for index in 0..<subject.count where row[index] && Glob.matches(token, subject[index]) {
                    next[index + 1] = true
                }
            }
            row = next
        }
        return row[subject.count]
    }
}

/// `*` globs (nothing else is special), matched without backtracking blow-up.
public enum Glob {
    public static func matches(_ pattern: some StringProtocol, _ text: some StringProtocol) -> Bool {
        let pattern = Array(pattern.utf8)
        let text = Array(text.utf8)
        var p = 0, t = 0
        var star = -1, mark = 0
        while t < text.count {
            if p < pattern.count, pattern[p] != 0x2A, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == 0x2A {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }
}

/// The SHA-256 of a public key (SubjectPublicKeyInfo DER), as mapping rules pin an issuing CA (`issuerSpkiSha256`)
/// and authn names a chain's anchor: written as 64 hex digits (any case, `:` separators allowed, as
/// `openssl dgst -sha256 -c` prints them) or 43 base64url characters (unpadded, as in HPKP and `x5t#S256`).
/// Kept as lower-case hex.
public enum SPKIDigest {
    /// The canonical (lower-case hex) form of `text`, or nil when it is neither form of a SHA-256.
    public static func canonical(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let hex = trimmed.replacingOccurrences(of: ":", with: "").lowercased()
        if hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            return hex
        }
        var base64 = trimmed
        while base64.hasSuffix("=") { base64.removeLast() }
        guard base64.utf8.count == 43, let bytes = Base64URL.decodeEitherAlphabet(base64), bytes.count == 32 else { return nil }
        return Hex.encode(bytes)
    }


    public static let expectedForm = "64 hex digits (colons allowed) or 43 base64url characters: the SHA-256 of the CA's SubjectPublicKeyInfo, e.g. from `openssl x509 -in ca.crt -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256` or `certauth verify-chain --json` (spki_sha256)"
}

/// `san_dns` rules: a DNS name compared without regard to ASCII case (a trailing dot ignored); a leading `*.` label
/// matches exactly one label (`*.svc.example` matches `a.svc.example`, not `a.b.svc.example` or `svc.example`).
public enum DNSNamePattern {
    public static func problem(_ pattern: String) -> String? {
        let name = normalized(pattern)
        guard !name.isEmpty, name.utf8.count <= 253 else { return "must be a DNS name of 1 to 253 characters" }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if label == "*" && index == 0 && labels.count > 2 { continue }
            guard !label.isEmpty, label.utf8.count <= 63,
                  label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F })
            else {
                return "has the label '\(label)'; labels are letters, digits, '-' and '_', and only a whole leftmost label may be '*' (with at least two labels after it)"
            }
        }
        return nil
    }

    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let pattern = normalized(pattern)
        let name = normalized(name)
        guard pattern.hasPrefix("*.") else { return pattern == name }
        let suffix = pattern.dropFirst(1)  // ".svc.example"
        guard name.hasSuffix(suffix) else { return false }
        let label = name.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".") && !label.contains("*")
    }

    public static func normalized(_ name: String) -> String {
        var lowered = name.lowercased()
        if lowered.hasSuffix(".") { lowered.removeLast() }
        return lowered
    }
}
