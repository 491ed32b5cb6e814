import Settings
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Key material (discovery, JWKS) and the token endpoint travel over HTTPS only: over plain `http://` anyone on the
/// path could swap the IdP's keys (and forge every token) or read the client's credentials. Loopback hosts are
/// exempt (nothing on the network sees them), and so is everything when the service's explicit opt-in (`optIn`, the
/// setting its configuration names) is on, for labs; a service logs a warning when it uses it.
public enum IdPTransport {

    /// Whether `host` is `localhost`, in 127.0.0.0/8, or `::1` (brackets allowed).
    public static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name == "localhost" || name == "localhost." { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }), octets.first == "127" { return true }
        var address = in6_addr()
        guard name.contains(":"), inet_pton(AF_INET6, name, &address) == 1 else { return false }
        return withUnsafeBytes(of: &address) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
    }

    /// Whether `url` is plain `http://` to a host that is not loopback (what needs the opt-in).
    public static func isInsecure(_ url: URL) -> Bool {
        url.scheme?.lowercased() == "http" && !isLoopback(host: url.host ?? "")
    }

    /// Throws, naming `variable` and the fix, when `url` is plain `http://` beyond loopback and `allowInsecure` (the
    /// setting `optIn`) is off.
    public static func check(_ url: URL, variable: String, allowInsecure: Bool, optIn: String, expected: String) throws(ConfigurationError) {
        guard isInsecure(url), !allowInsecure else { return }
        throw ConfigurationError(
            variable: variable,
            message: "'\(url.absoluteString)' is plain http to a host that is not loopback; \(expected) must be fetched over https (anyone on the path could replace it) — use the https URL, or set \(optIn)=true for a lab without TLS.")
    }

    /// The refusal of a URL that a discovery document named (checked when it is read, not at start): nil when fine.
    public static func refusal(_ value: String, field: String, document: String, allowInsecure: Bool, optIn: String) -> String? {
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
              url.host != nil
        else {
            return "the discovery document at \(document) names \(field) '\(value.prefix(200))', which is not an absolute http(s) URL"
        }
        guard isInsecure(url), !allowInsecure else { return nil }
        return "the discovery document at \(document) names \(field) '\(value.prefix(200))', plain http to a host that is not loopback; it is not used (anyone on the path could replace what it serves) — the IdP must publish https URLs, or set \(optIn)=true for a lab without TLS"
    }
}
